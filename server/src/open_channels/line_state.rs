//! The connector's state on a line's Open Line, told to Bitrix24: `imconnector.activate` when
//! the line starts (or stops) feeding it, and `imconnector.connector.data.set` with the line's
//! number and name and whether WhatsApp is connected.
//!
//! Bitrix24 documents no REST call that sets the connector's `ERROR` flag
//! (`imconnector-status.md` only reads it; `imconnector-deactivate.md`: "there is no such
//! method, it is the same imconnector.activate"). Switching the connector off while WhatsApp is
//! away would end what operators are doing on the Open Line, so a disconnected line stays
//! active and says so in the channel data Bitrix24 shows (`DATA.NAME`), and wab24 shows it as
//! `open_channel_status: "error"`.

use b24_client::{Id, Portal};
use serde_json::{Value, json};
use tenancy::{Caller, Line, LineStatus, OpenChannelStatus, Tenant};

use super::connector::CONNECTOR_ID;
use crate::{events::ServerEvent, state::AppState, wire::LineOut};

/// Shown after the line's name in Bitrix24 while WhatsApp is not connected (both languages:
/// the portal's is not known here).
const DISCONNECTED: &str = "отключён / disconnected";

/// The channel data of a line (`DATA`: `ID`, `URL`, `URL_IM`, `NAME`; REST docs
/// `imconnector-connector-data-set.md`).
pub fn channel_data(line: &Line) -> Value {
    let number: String =
        line.phone.as_deref().unwrap_or("").chars().filter(char::is_ascii_digit).collect();
    let url = if number.is_empty() { String::new() } else { format!("https://wa.me/{number}") };
    let mut name = if number.is_empty() {
        format!("WhatsApp · {}", line.name)
    } else {
        format!("WhatsApp +{number} · {}", line.name)
    };
    if line.status != LineStatus::Connected {
        name.push_str(" — ");
        name.push_str(DISCONNECTED);
    }
    json!({ "ID": format!("{CONNECTOR_ID}_line{}", line.id), "URL": url, "URL_IM": url, "NAME": name })
}

/// What the connector shows for a line: off when it feeds no Open Line, active when WhatsApp
/// is connected, an error otherwise.
pub fn status_of(line: &Line) -> OpenChannelStatus {
    match (line.open_channel.feeds_open_line(), line.open_line_id, line.status) {
        (true, Some(_), LineStatus::Connected) => OpenChannelStatus::Active,
        (true, Some(_), _) => OpenChannelStatus::Error,
        _ => OpenChannelStatus::Off,
    }
}

fn open_line(id: i64) -> Id {
    Id(u64::try_from(id).unwrap_or_default())
}

/// Brings Bitrix24 in line with the line as it is now (the item's payload says which Open Line
/// it fed before, to switch the connector off there). Returns what was called.
pub async fn apply(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    line_id: tenancy::LineId,
    payload: &Value,
) -> Result<Value, b24_client::Error> {
    // A deleted line feeds nothing: its Open Line is only switched off.
    let line = match tenant.line(Caller::System, line_id).await {
        Ok(line) => Some(line),
        Err(tenancy::Error::NotFound(_)) => None,
        Err(e) => return Err(super::worker::storage(e)),
    };
    let fed =
        line.as_ref().and_then(|l| l.open_line_id.filter(|_| l.open_channel.feeds_open_line()));
    let mut calls = vec![];
    if let Some(previous) = payload.get("previous_open_line_id").and_then(Value::as_i64)
        && Some(previous) != fed
    {
        match portal.imconnector_activate(CONNECTOR_ID, open_line(previous), false).await {
            Ok(_) => {
                calls.push(
                    json!({ "method": "imconnector.activate", "line": previous, "active": 0 }),
                );
            }
            // Already inactive (switched off in the contact center, or the Open Line deleted):
            // what the call was for is so; retrying would hold the line's later items for ever.
            Err(b24_client::Error::Api { code: b24_client::ErrorCode::NotActiveLine, .. }) => {
                calls.push(json!({ "method": "imconnector.activate", "line": previous, "active": 0, "already_inactive": true }));
            }
            Err(e) => return Err(e),
        }
    }
    let Some(line) = line else {
        return Ok(json!({ "calls": calls, "line": "deleted" }));
    };
    if let Some(id) = fed {
        portal.imconnector_activate(CONNECTOR_ID, open_line(id), true).await?;
        calls.push(json!({ "method": "imconnector.activate", "line": id, "active": 1 }));
        let data = channel_data(&line);
        portal.imconnector_data_set(CONNECTOR_ID, open_line(id), data.clone()).await?;
        calls.push(json!({ "method": "imconnector.connector.data.set", "line": id, "data": data }));
    }
    let status = status_of(&line);
    if status != line.open_channel_status {
        match tenant.set_open_channel_status(Caller::System, line.id, status).await {
            Ok(updated) => state.bus().publish(ServerEvent::LineUpdated {
                member_id: tenant.member_id().to_owned(),
                line: LineOut::from(updated),
            }),
            Err(e) => tracing::warn!(line_id = line.id, error = %e, "connector status not stored"),
        }
    }
    Ok(json!({ "calls": calls, "open_channel_status": status.as_str() }))
}

/// Bitrix24 refused (or keeps failing) the connector's activation or data on the line's Open
/// Line: the line shows the error (and the administrator may choose another Open Line).
pub async fn refused(state: &AppState, tenant: &Tenant, line_id: tenancy::LineId) {
    if tenant.line(Caller::System, line_id).await.is_ok_and(|l| {
        l.open_channel_status == OpenChannelStatus::Error || !l.open_channel.feeds_open_line()
    }) {
        return;
    }
    match tenant.set_open_channel_status(Caller::System, line_id, OpenChannelStatus::Error).await {
        Ok(line) => state.bus().publish(ServerEvent::LineUpdated {
            member_id: tenant.member_id().to_owned(),
            line: LineOut::from(line),
        }),
        Err(e) => tracing::warn!(line_id, error = %e, "connector error not stored"),
    }
}
