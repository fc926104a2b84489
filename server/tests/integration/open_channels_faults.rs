//! The outbox towards Bitrix24 under lasting faults: while customers keep writing on three
//! lines fed to three Open Lines, b24-sim answers 503 (`OVERLOAD_LIMIT` and a proxy's HTML
//! page) and `QUERY_LIMIT_EXCEEDED` for a while, and a 401 storm (every access token expired
//! again and again, `invalid_token` on many calls) hits two workers sending at once. Afterwards
//! every customer message is in b24-sim's contact center exactly once and in order, by its
//! WhatsApp id, and nothing is left failed or pending.

use b24_client::ErrorCode;
use b24_sim::{Fault, FaultAction, MessageAuthor};
use serde_json::json;
use tenancy::{B24OutboxState, Caller};
use wab24::open_channels::worker::{Round, deliver_due};

use crate::app::{ALPHA, App, start};

const CUSTOMERS: [&str; 2] = ["5511900000501", "5511900000502"];

/// Stores a customer's text on `line` as the line runtime would.
async fn customer_writes(app: &App, line: i64, customer: &str, wa_id: &str) {
    let t = app.store.tenant(ALPHA).await.unwrap();
    let m = tenancy::Inbound {
        line_id: line,
        jid: format!("{customer}@s.whatsapp.net"),
        phone: Some(customer.to_owned()),
        push_name: Some("Cliente".to_owned()),
        wa_id: wa_id.to_owned(),
        kind: tenancy::MessageKind::Text,
        text: Some(format!("text of {wa_id}")),
        media: None,
        quoted_wa_id: None,
        raw: b"{}".to_vec(),
        note: None,
    };
    t.record_inbound(Caller::System, &m, app.state.now()).await.unwrap();
}

/// A connected line fed to a new Open Line of its own; (line, Open Line).
async fn line_on_open_line(app: &App, admin: &str, n: usize) -> (i64, u64) {
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line =
        portal.openlines_config_add(json!({"LINE_NAME": format!("Line {n}")})).await.unwrap().0;
    let created =
        app.call("POST", "/api/lines", Some(admin), Some(json!({"name": format!("L{n}")}))).await;
    let line = created.json()["id"].as_i64().unwrap();
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    tenant.set_line_phone(Caller::System, line, &format!("7999000050{n}")).await.unwrap();
    tenant
        .set_line_status(
            Caller::System,
            line,
            tenancy::LineStatus::Connected,
            b"{}",
            app.state.now(),
        )
        .await
        .unwrap();
    let patch = json!({"open_channel": "openline", "open_line_id": open_line});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(admin), Some(patch)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    (line, open_line)
}

/// Two workers at once, as two server processes on one database would run.
async fn two_workers(app: &App) -> Round {
    let (a, b) = tokio::join!(deliver_due(&app.state), deliver_due(&app.state));
    Round { done: a.done + b.done, retried: a.retried + b.retried, failed: a.failed + b.failed }
}

/// The WhatsApp ids of a customer's messages on an Open Line in b24-sim, oldest first.
fn in_bitrix24(app: &App, open_line: u64, customer: &str) -> Vec<String> {
    let mut ids = vec![];
    for s in app.sim.open_line_sessions(ALPHA) {
        if s.line != open_line || s.external_chat_id != customer {
            continue;
        }
        for m in app.sim.open_line_messages(ALPHA, s.chat_id) {
            if matches!(m.author, MessageAuthor::Customer(_)) && m.session_id == s.id {
                ids.extend(m.external_ids);
            }
        }
    }
    ids
}

// REST docs: api-reference/common/system/errors (QUERY_LIMIT_EXCEEDED and OVERLOAD_LIMIT are
// 503, expired_token and invalid_token 401); api-reference/imopenlines/imconnector/
// imconnector-send-messages.md (`message.id`, the connector's own id, kept by Bitrix24).
#[tokio::test]
async fn lasting_503s_rate_limits_and_a_401_storm_lose_and_duplicate_nothing() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let mut lines = vec![];
    for n in 0..3 {
        lines.push(line_on_open_line(&app, &admin, n).await);
    }
    let round = two_workers(&app).await;
    assert_eq!((round.done, round.failed), (3, 0), "each line activated: {round:?}");

    // 30 rounds; in each, every customer writes on every line, faults come and go, tokens
    // expire, and two workers send what is due.
    let only = |method: &str, action: FaultAction, times: u64| {
        Fault::on(method, action).portal(ALPHA).times(times)
    };
    let send = "imconnector.send.messages";
    let mut written: Vec<Vec<Vec<String>>> = vec![vec![vec![]; CUSTOMERS.len()]; lines.len()];
    let mut retried = 0;
    for r in 0..30 {
        for (l, (line, _)) in lines.iter().enumerate() {
            for (c, customer) in CUSTOMERS.iter().enumerate() {
                let wa_id = format!("WA{r:02}L{l}C{c}");
                customer_writes(&app, *line, customer, &wa_id).await;
                written[l][c].push(wa_id);
            }
        }
        match r {
            // Bitrix24 down for a while: 503 OVERLOAD_LIMIT, then a proxy's 503 page.
            2..=5 => app.sim.add_fault(only(send, FaultAction::error(ErrorCode::OverloadLimit), 4)),
            6..=8 => app.sim.add_fault(only(send, FaultAction::Html { status: 503 }, 4)),
            // Rate limited for a while (the client waits and tries again itself, then the
            // outbox backs off).
            10..=12 => {
                app.sim.add_fault(only(send, FaultAction::error(ErrorCode::QueryLimitExceeded), 3))
            }
            // The 401 storm: tokens expired under the workers' feet, and refused outright.
            14..=24 => {
                app.sim.expire_access_tokens(ALPHA);
                if r % 2 == 0 {
                    app.sim.add_fault(only(send, FaultAction::error(ErrorCode::InvalidToken), 2));
                }
            }
            _ => {}
        }
        let round = two_workers(&app).await;
        assert_eq!(round.failed, 0, "round {r}: nothing refused for good: {round:?}");
        retried += round.retried;
        // Time passes: every backoff (at most five minutes) runs out.
        app.clock.advance(301);
    }
    assert!(retried > 0, "the faults put items back");
    app.sim.clear_faults();
    let mut rounds = 0;
    loop {
        let round = two_workers(&app).await;
        assert_eq!(round.failed, 0, "{round:?}");
        if round.done + round.retried == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 50, "the outbox towards Bitrix24 does not drain");
        app.clock.advance(301);
    }

    // Every message once, in order, on its own Open Line; nothing failed or waiting.
    for (l, (line, open_line)) in lines.iter().enumerate() {
        for (c, customer) in CUSTOMERS.iter().enumerate() {
            assert_eq!(
                in_bitrix24(&app, *open_line, customer),
                written[l][c],
                "line {l}, customer {c}: each message once, in order"
            );
        }
        let tenant = app.store.tenant(ALPHA).await.unwrap();
        for state in [B24OutboxState::Pending, B24OutboxState::Sending, B24OutboxState::Failed] {
            let left = tenant.b24_outbox_items(Caller::System, *line, state, 10).await.unwrap();
            assert!(left.is_empty(), "line {l}: {state:?} items left: {left:?}");
        }
    }
    // Bitrix24 took each message once (a call may carry several of a line's messages).
    let accepted: usize = app
        .sim
        .calls_to(send)
        .into_iter()
        .filter(|c| c.status == 200)
        .map(|c| c.params["MESSAGES"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(accepted, 30 * lines.len() * CUSTOMERS.len(), "each message accepted once");
    let refused_401 = app.sim.calls_to(send).into_iter().filter(|c| c.status == 401).count();
    assert!(refused_401 >= 10, "the storm hit the calls: {refused_401} refused with 401");
}
