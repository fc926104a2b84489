//! A Bitrix24 REST application with b24-client, against b24-sim in the same process: the OAuth
//! authorization-code flow, `user.current`, a list call read page by page, and a token refresh
//! that the client does by itself when the access token has expired.
//!
//! ```text
//! cargo run -p wab24-examples --example b24_rest
//! ```
//!
//! On a real portal the steps are the same; what differs is where the code comes from (the
//! portal redirects the user's browser to the application's `redirect_uri`; here the program
//! follows that redirect itself) and the URLs (`https://<portal>/oauth/authorize/` and
//! `https://oauth.bitrix.info/rest/`).
#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use b24_client::{Client, PAGE_SIZE};
use b24_sim::{PortalSpec, Sim, SimConfig};
use futures_util::StreamExt as _;
use serde_json::json;

/// The portal's id and domain.
const MEMBER_ID: &str = "example-member";
const DOMAIN: &str = "example.bitrix24.test";
/// Where the portal sends the user back with the code (never reached: we read the redirect).
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";

/// Asks the portal to authorize the application, as the user's browser would, and reads the
/// one-time code from the redirect.
async fn authorization_code(sim: &Sim) -> anyhow::Result<String> {
    let app = sim.app();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let answer = browser
        .get(format!("{}/oauth/authorize/", sim.base_url()?))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("member_id", MEMBER_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", "example"),
        ])
        .send()
        .await?;
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .context("the portal did not redirect")?
        .to_str()?;
    let (_, query) = location.split_once('?').context("no query in the redirect")?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "code")
        .map(|(_, code)| code.into_owned())
        .context("no code in the redirect")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // A portal with enough users for the list to span pages of 50.
    let sim = Sim::new(SimConfig::default());
    sim.add_portal(PortalSpec { users: 120, ..PortalSpec::new(MEMBER_ID, DOMAIN) });
    let addr = sim.start(([127, 0, 0, 1], 0).into()).await?;
    println!("b24-sim at http://{addr}");

    // OAuth: the code from the redirect, exchanged for a token pair at the OAuth server.
    let client = Client::builder(sim.app()).build()?;
    let code = authorization_code(&sim).await?;
    let tokens = client.exchange_code(&sim.server_endpoint()?, &code).await?;
    let scope = tokens.scope.join(",");
    println!("tokens for {} at {}, scope {scope}", tokens.member_id, tokens.client_endpoint);
    let portal = client.portal(tokens);

    let me = portal.user_current().await?;
    println!("user.current: {} {} {} (id {})", me.name, me.last_name, me.email, me.id);

    // `user.get` answers 50 rows and a `next` offset; the stream asks for each page in turn.
    let users: Vec<_> =
        portal.list("user.get", json!({"FILTER": {"ACTIVE": true}})).collect().await;
    let users = users.into_iter().collect::<Result<Vec<_>, _>>()?;
    let pages = sim.calls_to("user.get").len();
    println!("user.get: {} users in {pages} pages of at most {PAGE_SIZE}", users.len());

    // An expired access token: the next call gets `expired_token`, refreshes and goes on.
    sim.expire_access_tokens(MEMBER_ID);
    let me_again = portal.user_current().await?;
    anyhow::ensure!(me_again.id == me.id, "another user after the refresh");
    println!("after expiry: still user {}, {} refresh(es)", me_again.id, portal.refresh_count());
    Ok(())
}
