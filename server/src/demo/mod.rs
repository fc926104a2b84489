//! `wab24 demo`: the server with an embedded b24-sim portal, installed by its simulated
//! administrator, and an embedded wa-sim with business phones and simulated customers
//! ([`whatsapp`]) and a CRM ([`crm`]); prints the URL of the portal's shell page. No configuration: SQLite and a
//! generated master key under the data directory.

pub mod crm;
pub mod open_line;
pub mod whatsapp;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use b24_sim::{PortalSpec, Sim, SimConfig};

pub use whatsapp::{Behaviour, client_config};

use crate::{
    runtime::{Runtime, RuntimeConfig},
    serve::ServeError,
    session::SessionKey,
    state::{AppState, Settings, TenancyTokenStore},
};

/// The demo portal's photo of user 3 (`PERSONAL_PHOTO`): a small picture, served by b24-sim.
const DEMO_PHOTO: &[u8] = br##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" fill="#2e7d6b"/><circle cx="32" cy="25" r="12" fill="#f3d2b3"/><path d="M10 64c2-14 11-21 22-21s20 7 22 21z" fill="#f3d2b3"/></svg>"##;

/// The demo portal's `member_id`.
pub const DEMO_MEMBER: &str = "demo0portal";
/// The demo portal's domain.
pub const DEMO_DOMAIN: &str = "demo.bitrix24.test";

/// Where the demo lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// Data directory (default `./data`).
    pub data_dir: PathBuf,
    /// The server's address (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// The simulated Bitrix24's address (default 127.0.0.1:8081).
    pub sim_listen: SocketAddr,
    /// The simulated WhatsApp's WebSocket address (default 127.0.0.1:8082).
    pub wa_listen: SocketAddr,
    /// The simulated WhatsApp's control API (default 127.0.0.1:8083): scan, send as a
    /// customer, read what a phone received (wa-sim's README lists the routes).
    pub wa_control: SocketAddr,
    /// How the simulated phones and customers behave.
    pub behaviour: Behaviour,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            sim_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            wa_listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            wa_control: SocketAddr::from(([127, 0, 0, 1], 8083)),
            behaviour: Behaviour {
                auto_scan: Some(Duration::from_secs(5)),
                chatty_customers: true,
            },
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The server part failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The simulated portal failed.
    #[error("the simulated Bitrix24 failed: {0}")]
    Sim(#[from] b24_sim::Error),
    /// The simulated WhatsApp failed.
    #[error("the simulated WhatsApp failed: {0}")]
    WhatsApp(#[from] wa_sim::Error),
    /// The data directory or the demo key could not be used.
    #[error("demo data directory: {0}")]
    Io(#[from] std::io::Error),
    /// Installing the app into the simulated portal failed.
    #[error("installing into the simulated portal failed: HTTP {status}")]
    Install {
        /// The answer's status.
        status: u16,
    },
}

/// The simulator's state file in the data directory (accounts, devices, prekeys, queues).
pub const WA_SIM_STATE: &str = "wa-sim-state.json";

/// The demo's master key: `data_dir/demo-master.key` (hex), made on first run.
fn master_key(dir: &std::path::Path) -> Result<[u8; 32], DemoError> {
    let path = dir.join("demo-master.key");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(bytes) = hex::decode(text.trim())
        && let Ok(key) = <[u8; 32]>::try_from(bytes)
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::write(&path, hex::encode(key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// Starts everything, installs the app into the simulated portal, prints where to go, and
/// serves until Ctrl-C or SIGTERM.
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    std::fs::create_dir_all(&opts.data_dir)?;
    let master = master_key(&opts.data_dir)?;
    let sim = Sim::new(SimConfig::default());
    let sim_addr = sim.start(opts.sim_listen).await?;
    let sim_base = format!("http://{sim_addr}");
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: opts.listen, source })?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let mut spec = PortalSpec::new(DEMO_MEMBER, DEMO_DOMAIN);
    spec.app_url = Some(format!("{base}/b24/app"));
    spec.install_finished = false;
    sim.add_portal(spec);
    // User 3 has a photo on the portal's disk, which the panel shows as their avatar.
    let photo = sim.host_file(DEMO_MEMBER, "user3.svg", "image/svg+xml", DEMO_PHOTO.to_vec())?;
    sim.set_user_photo(DEMO_MEMBER, 3, &photo);

    let store = Arc::new(
        tenancy::Store::open_sqlite(&opts.data_dir, tenancy::MasterKey::from_bytes(master))
            .await
            .map_err(ServeError::from)?,
    );
    let clock: Arc<dyn b24_client::Clock> = Arc::new(b24_client::SystemClock);
    let b24 = b24_client::Client::builder(sim.app())
        .token_store(Arc::new(TenancyTokenStore::new(store.clone(), clock.clone())))
        .clock(clock.clone())
        .build()
        .map_err(ServeError::from)?;
    let settings = Settings {
        client_id: sim.app().client_id,
        public_url: base.clone(),
        oauth_server: sim.server_endpoint()?,
        plan_hook_secret: None,
        default_plan: "demo".to_owned(),
        default_line_quota: 5,
        trial_days: 0,
        extra_frame_ancestor: Some(sim_base.clone()),
        metrics_token: None,
        limits: crate::state::Limits::default(),
        uninstall_grace_days: 7,
        billing: crate::state::Billing::default(),
        media_links: crate::media_link::MediaLinks {
            key: crate::media_link::MediaLinkKey::derive(&master).ok_or(ServeError::Key)?,
            ttl_secs: crate::media_link::DEFAULT_TTL_SECS,
        },
    };
    let key = SessionKey::derive(&master).ok_or(ServeError::Key)?;
    // The simulator's accounts and linked devices live in the data folder too, so a restarted
    // demo keeps its lines linked (no new QR scan).
    let wa_state = opts.data_dir.join(WA_SIM_STATE);
    let wa = wa_sim::Sim::open_state(wa_sim::SimConfig::default(), &wa_state)?;
    whatsapp::create_accounts(&wa)?;
    wa.save_state(&wa_state)?;
    wa.persist(wa_state, std::time::Duration::from_millis(500));
    let wa_addr = wa.serve_ws(opts.wa_listen).await?;
    wa.serve_media(SocketAddr::from(([127, 0, 0, 1], 0)), 64 * 1024 * 1024).await?;
    let control = wa.serve_control(opts.wa_control).await?;
    let runtime = Arc::new(Runtime::new(
        store.clone(),
        RuntimeConfig::new(client_config(&wa, wa_addr), opts.data_dir.clone()),
        crate::events::EventBus::default(),
    ));
    tokio::spawn(whatsapp::run(wa, runtime.clone(), DEMO_MEMBER.to_owned(), opts.behaviour));
    let state = AppState::new(settings, store.clone(), b24, key, clock, Some(runtime.clone()));
    // As `wab24 serve`: a data directory from an older version gets its audit logs sealed once.
    crate::audit_check::at_start(&store, state.metrics(), state.now()).await;
    crate::http::bitrix::purge_due(&state).await;
    tokio::spawn(crate::http::bitrix::run_purger(
        state.clone(),
        std::time::Duration::from_secs(3600),
    ));
    // Lines linked in an earlier run log in again to the restored simulator.
    match runtime.restore_all().await {
        Ok(lines) if !lines.is_empty() => tracing::info!(lines = lines.len(), "lines restored"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "restoring lines failed"),
    }
    tokio::spawn(crate::open_channels::worker::run(state.clone()));
    let state_for_demo = state.clone();
    let limits = state.settings().limits.clone();
    let server = tokio::spawn(crate::serve::serve_http(
        listener,
        crate::http::routes(state),
        limits,
        crate::serve::shutdown(),
    ));
    // The administrator opens the app for the first time: the install frame, then installFinish.
    let install = sim
        .open_frame(
            DEMO_MEMBER,
            1,
            &format!("{base}/b24/install"),
            "DEFAULT",
            &serde_json::json!({}),
        )
        .await?;
    if install.status != 200 {
        return Err(DemoError::Install { status: install.status });
    }
    sim.finish_install(DEMO_MEMBER);
    // The portal's CRM, whose cards show the WhatsApp tab bound at install.
    let seeded = crm::seed(&sim, DEMO_MEMBER)?;
    // A line fed to a demo Open Line, so that the portal's contact center has conversations;
    // only when the demo scans QR codes by itself (`--auto-scan 0` leaves every line to the
    // person trying it, whose first line is then line 1).
    let fed_line = opts.behaviour.auto_scan.is_some();
    if fed_line {
        match open_line::set_up(&state_for_demo, &runtime, DEMO_MEMBER).await {
            Ok(Some((line, open_line))) => {
                tracing::info!(line, open_line, "demo Open Channel ready")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "demo Open Channel not set up"),
        }
    }
    // Written at once and without panicking: a reader that has gone (`wab24 demo | head`, a
    // test that read the first lines) must not stop the demo.
    let scans = match opts.behaviour.auto_scan {
        Some(d) => format!(", which scans a shown QR code after {} s", d.as_secs()),
        None => String::new(),
    };
    let mut banner = vec![
        format!("wab24 demo is running (Ctrl-C to stop); data in {}", opts.data_dir.display()),
        format!("  portal (administrator): {sim_base}/p/{DEMO_DOMAIN}/"),
        if fed_line {
            format!(
                "  contact center:         {sim_base}/p/{DEMO_DOMAIN}/center (line \"{}\" feeds Open Line \"{}\")",
                open_line::DEMO_LINE_NAME,
                open_line::DEMO_OPEN_LINE_NAME
            )
        } else {
            format!("  contact center:         {sim_base}/p/{DEMO_DOMAIN}/center")
        },
        format!("  portal as user 2:       {sim_base}/p/{DEMO_DOMAIN}/?user=2"),
        format!("  CRM:                    {sim_base}/p/{DEMO_DOMAIN}/crm"),
        format!(
            "  a contact's WhatsApp:   {sim_base}/p/{DEMO_DOMAIN}/crm/contact/{}?tab=0 (deal {})",
            seeded.contact, seeded.deal
        ),
        format!("  in Russian:             {sim_base}/p/{DEMO_DOMAIN}/?lang=ru"),
        format!("  API:                    {base}/api/openapi.json"),
        format!("  WhatsApp simulator:     control API http://{control}"),
        format!(
            "    line N is linked by phone +{} ... +{} (N = 1..5){scans}",
            whatsapp::BUSINESS_PHONES[0],
            whatsapp::BUSINESS_PHONES[whatsapp::BUSINESS_PHONES.len() - 1],
        ),
    ];
    for (phone, name) in whatsapp::CUSTOMERS {
        banner.push(format!("    customer +{phone} ({name})"));
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", banner.join("\n")).and_then(|()| stdout.flush());
    }
    let _ = server.await;
    Ok(())
}
