//! A line as the API and the events show it.

use serde::{Deserialize, Serialize};
use tenancy::Line;

/// A line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineOut {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Linked phone number.
    pub phone: Option<String>,
    /// `new`, `pairing`, `connected`, `disconnected` or `logged_out`.
    pub status: String,
    /// The assigned user.
    pub assigned_user: Option<i64>,
    /// The assigned department: its members and those of the departments below it work the
    /// line too.
    #[serde(default)]
    pub assigned_department: Option<i64>,
    /// How each conversation's responsible person is chosen: `first_to_answer` or `evenly`.
    #[serde(default = "first_to_answer")]
    pub responsible_mode: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Whether the assigned user opening a chat sends read receipts (blue ticks) to WhatsApp.
    pub send_read_receipts: bool,
    /// Where its conversations go: `panel`, `openline` or `both`.
    pub open_channel: String,
    /// The Bitrix24 Open Line it feeds, once chosen.
    pub open_line_id: Option<i64>,
    /// What Bitrix24 shows for the connector on that Open Line: `off`, `active` or `error`.
    pub open_channel_status: String,
    /// Whether an operator's name signature reaches the customer with their Open Line messages.
    pub open_channel_signature: bool,
    /// The live state while the line runs (`connecting`, `qr`, `connected`, `reconnecting`,
    /// `disconnected`, `logged_out`), `null` when it does not run on this server.
    pub state: Option<String>,
}

fn first_to_answer() -> String {
    tenancy::ResponsibleMode::FirstToAnswer.as_str().to_owned()
}

impl From<Line> for LineOut {
    fn from(l: Line) -> Self {
        LineOut {
            id: l.id,
            name: l.name,
            phone: l.phone,
            status: l.status.as_str().to_owned(),
            assigned_user: l.assigned_user,
            assigned_department: l.assigned_department,
            responsible_mode: l.responsible_mode.as_str().to_owned(),
            created_at: l.created_at,
            send_read_receipts: l.send_read_receipts,
            open_channel: l.open_channel.as_str().to_owned(),
            open_line_id: l.open_line_id,
            open_channel_status: l.open_channel_status.as_str().to_owned(),
            open_channel_signature: l.open_channel_signature,
            state: None,
        }
    }
}
