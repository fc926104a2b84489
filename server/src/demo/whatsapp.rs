//! The demo's WhatsApp: an embedded wa-sim with a business phone per line and simulated
//! customers. Its phones scan QR codes by themselves (after a pause, so that a person sees the
//! code), customers write now and then and answer what they are sent, and they read what
//! reaches them, so the ticks move to read.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use tenancy::LineId;
use tokio::sync::broadcast;
use wa_session::client::{BackoffPolicy, Config};
use wa_sim::{PhoneContent, PhoneMessage, Sim};

use crate::{
    events::ServerEvent,
    runtime::{LineState, Runtime},
};

/// The business phones lines are linked to: line `n` pairs with `BUSINESS_PHONES[(n - 1) % 5]`.
pub const BUSINESS_PHONES: [&str; 5] =
    ["79990000001", "79990000002", "79990000003", "79990000004", "79990000005"];

/// The simulated customers (phone number, who they are).
pub const CUSTOMERS: [(&str, &str); 4] = [
    ("79160000001", "Анна Смирнова"),
    ("79160000002", "Игорь Петров"),
    ("4915110000003", "Lena Fischer"),
    ("15550000004", "John Carter"),
];

/// What customers write by themselves.
const PHRASES: [&str; 8] = [
    "Здравствуйте! Подскажите, заказ №4821 уже отправлен?",
    "Добрый день, можно счёт на оплату для ООО «Вектор»?",
    "Hello! Do you ship to Berlin? 📦",
    "Спасибо, всё получили 👍",
    "Can I change the delivery address for my order?",
    "А есть эта модель в синем цвете?",
    "Hi, is the price on the website still valid? 🙂",
    "Перезвоните мне, пожалуйста, после 15:00",
];

/// How the demo's WhatsApp behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    /// Scan a line's QR code after this pause (`None`: only through the control API).
    pub auto_scan: Option<Duration>,
    /// Customers write by themselves and answer texts.
    pub chatty_customers: bool,
}

/// The client settings for wa-sim listening on `ws` (its root key and certificate, quick
/// reconnects).
#[must_use]
pub fn client_config(sim: &Sim, ws: SocketAddr) -> Config {
    Config {
        url: format!("ws://{ws}/ws/chat"),
        root_key: sim.root_key(),
        tls_roots: sim.certificate_der().ok().map(|der| vec![der]),
        backoff: BackoffPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
            ..BackoffPolicy::default()
        },
        ..Config::default()
    }
}

/// The business phone of a line.
#[must_use]
pub fn phone_of_line(line: LineId) -> &'static str {
    let index = usize::try_from(line.saturating_sub(1)).unwrap_or(0) % BUSINESS_PHONES.len();
    BUSINESS_PHONES[index]
}

/// Creates the accounts (business phones and customers, each with a LID).
///
/// # Errors
///
/// wa-sim's, if an account cannot be made.
pub fn create_accounts(sim: &Sim) -> wa_sim::Result<()> {
    // Accounts restored from the simulator's state file are kept as they are.
    let create = |phone: &str, lid: String| match sim.create_account(phone, Some(&lid)) {
        Ok(_) | Err(wa_sim::Error::AccountExists(_)) => Ok(()),
        Err(error) => Err(error),
    };
    for (n, phone) in BUSINESS_PHONES.iter().enumerate() {
        create(phone, format!("20000000000{n:04}"))?;
    }
    for (n, (phone, _)) in CUSTOMERS.iter().enumerate() {
        create(phone, format!("10000000000{n:04}"))?;
    }
    Ok(())
}

/// Runs the phones and customers until the runtime goes away.
pub async fn run(sim: Sim, runtime: Arc<Runtime>, member_id: String, behaviour: Behaviour) {
    if behaviour.chatty_customers {
        for (phone, _) in CUSTOMERS {
            let answer = "Спасибо! Получил(а): «{text}»".to_owned();
            if let Err(error) = sim.set_auto_answer(phone, Some(answer)) {
                tracing::warn!(%error, "customer auto-answer not set");
            }
        }
    }
    tokio::spawn(read_what_customers_receive(sim.clone()));
    let mut events = runtime.subscribe();
    let mut chatting: HashSet<LineId> = HashSet::new();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if event.member_id() != member_id {
            continue;
        }
        on_event(&sim, &runtime, &event, behaviour, &mut chatting);
    }
}

fn on_event(
    sim: &Sim,
    runtime: &Arc<Runtime>,
    event: &ServerEvent,
    behaviour: Behaviour,
    chatting: &mut HashSet<LineId>,
) {
    let ServerEvent::LineStatus { member_id, line_id, state } = event else { return };
    match state {
        LineState::Qr { code, .. } => {
            if let Some(pause) = behaviour.auto_scan {
                let (sim, runtime, code) = (sim.clone(), runtime.clone(), code.clone());
                let (member_id, line) = (member_id.clone(), *line_id);
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    // Only the code still shown: a newer one replaces it, a scan ends it.
                    let current = runtime.status(&member_id, line);
                    if !matches!(&current, Some(LineState::Qr { code: shown, .. }) if *shown == code)
                    {
                        return;
                    }
                    match sim.scan(&code, phone_of_line(line)).await {
                        Ok(_) => tracing::info!(line_id = line, "demo phone scanned the QR code"),
                        Err(error) => tracing::warn!(line_id = line, %error, "demo scan failed"),
                    }
                });
            }
        }
        LineState::Connected if behaviour.chatty_customers && chatting.insert(*line_id) => {
            tokio::spawn(customers_write(
                sim.clone(),
                runtime.clone(),
                member_id.clone(),
                *line_id,
            ));
        }
        _ => {}
    }
}

/// Now and then a customer writes to the line's phone while it is connected.
async fn customers_write(sim: Sim, runtime: Arc<Runtime>, member_id: String, line: LineId) {
    let mut pause = Duration::from_secs(3);
    loop {
        tokio::time::sleep(pause).await;
        pause = Duration::from_secs(rand::random_range(30..90));
        if !matches!(runtime.status(&member_id, line), Some(LineState::Connected)) {
            continue;
        }
        let (customer, _) = CUSTOMERS[rand::random_range(0..CUSTOMERS.len())];
        let text = PHRASES[rand::random_range(0..PHRASES.len())];
        let message = PhoneMessage {
            to: phone_of_line(line).to_owned(),
            content: PhoneContent::Text(text.to_owned()),
            quoted: None,
        };
        if let Err(error) = sim.phone_send(customer, message).await {
            tracing::warn!(line_id = line, %error, "a demo customer could not write");
        }
    }
}

/// Customers read what they receive from a line a moment later (a read receipt each).
async fn read_what_customers_receive(sim: Sim) {
    let mut seen: HashMap<&'static str, usize> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for (customer, _) in CUSTOMERS {
            let Ok(received) = sim.phone_received(customer) else { continue };
            let from = seen.get(customer).copied().unwrap_or(0).min(received.len());
            let mut by_chat: HashMap<&str, Vec<String>> = HashMap::new();
            for m in &received[from..] {
                if !m.from_me && m.error.is_none() && m.kind != "reaction" {
                    by_chat.entry(m.chat.as_str()).or_default().push(m.id.clone());
                }
            }
            for (chat, ids) in by_chat {
                if let Err(error) = sim.phone_read(customer, chat, &ids) {
                    tracing::debug!(%error, "a demo customer could not mark read");
                }
            }
            seen.insert(customer, received.len());
        }
    }
}
