//! The JSON shapes of the API (requests and answers).

use serde::{Deserialize, Serialize};
use tenancy::{Contact, Conversation, Department, DirectoryUser, User};

pub use crate::wire::{LineOut, MediaOut, MessageOut, media_file_name, status_name};

/// `GET /api/me`.
#[derive(Debug, Serialize)]
pub struct Me {
    /// The tenant.
    pub member_id: String,
    /// The Bitrix24 user id.
    pub user_id: i64,
    /// `admin` or `user`.
    pub role: crate::session::Role,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
    /// Whether the API refuses writes (trial ended).
    pub read_only: bool,
}

/// `POST /api/lines`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLine {
    /// Display name.
    pub name: String,
    /// The phone number, if known in advance.
    #[serde(default)]
    pub phone: Option<String>,
}

/// `PATCH /api/lines/{id}`: the settings to change (those left out stay as they are).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLine {
    /// Whether opening a chat sends read receipts to WhatsApp.
    #[serde(default)]
    pub send_read_receipts: Option<bool>,
    /// Where conversations go: `panel`, `openline` or `both`.
    #[serde(default)]
    pub open_channel: Option<OpenChannelIn>,
    /// The Bitrix24 Open Line to feed; `null` clears it (absent: unchanged).
    #[serde(default, deserialize_with = "present")]
    pub open_line_id: Option<Option<i64>>,
    /// Whether an operator's name signature reaches the customer.
    #[serde(default)]
    pub open_channel_signature: Option<bool>,
    /// The department that works the line (with the departments below it); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    pub assigned_department: Option<Option<i64>>,
    /// How each conversation's responsible person is chosen: `first_to_answer` or `evenly`.
    #[serde(default)]
    pub responsible_mode: Option<ResponsibleModeIn>,
    /// The line's CRM policy, whole (absent: unchanged).
    #[serde(default)]
    pub crm: Option<CrmPolicyIo>,
}

/// How a line's conversations get their responsible person, as the API names it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponsibleModeIn {
    /// Whoever answers first.
    FirstToAnswer,
    /// Round robin over the department's members.
    Evenly,
}

impl From<ResponsibleModeIn> for tenancy::ResponsibleMode {
    fn from(m: ResponsibleModeIn) -> Self {
        match m {
            ResponsibleModeIn::FirstToAnswer => tenancy::ResponsibleMode::FirstToAnswer,
            ResponsibleModeIn::Evenly => tenancy::ResponsibleMode::Evenly,
        }
    }
}
/// A line's CRM policy as the API shows and takes it (`PATCH /api/lines/{id}` `crm`,
/// `GET /api/lines/{id}/crm`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmPolicyIo {
    /// `none`, `contact`, `contact_lead` or `contact_deal`.
    pub mode: String,
    /// The deal pipeline (0: the default one).
    #[serde(default)]
    pub category_id: i64,
    /// The deal stage (`null`: the pipeline's first).
    #[serde(default)]
    pub stage_id: Option<String>,
    /// `line_user` or `client_responsible`.
    #[serde(default = "default_responsible")]
    pub responsible: String,
    /// `new_deal` or `nothing`.
    #[serde(default = "default_returning")]
    pub returning_closed_deal: String,
    /// `wab24` or `open_line`.
    #[serde(default = "default_source")]
    pub source_of_truth: String,
}

fn default_responsible() -> String {
    tenancy::CrmResponsible::LineUser.as_str().to_owned()
}

fn default_returning() -> String {
    tenancy::ReturningClosedDeal::NewDeal.as_str().to_owned()
}

fn default_source() -> String {
    tenancy::CrmSourceOfTruth::Wab24.as_str().to_owned()
}

impl CrmPolicyIo {
    /// The policy it names, or which field is wrong.
    pub fn policy(&self) -> Result<tenancy::CrmPolicy, &'static str> {
        if self.category_id < 0 {
            return Err("crm.category_id is 0 (the default pipeline) or a pipeline's id");
        }
        if self.stage_id.as_ref().is_some_and(|s| s.is_empty() || s.len() > 50) {
            return Err("crm.stage_id is a stage id of at most 50 bytes, or null");
        }
        Ok(tenancy::CrmPolicy {
            mode: self
                .mode
                .parse()
                .map_err(|_| "crm.mode is none, contact, contact_lead or contact_deal")?,
            category_id: self.category_id,
            stage_id: self.stage_id.clone(),
            responsible: self
                .responsible
                .parse()
                .map_err(|_| "crm.responsible is line_user or client_responsible")?,
            returning_closed_deal: self
                .returning_closed_deal
                .parse()
                .map_err(|_| "crm.returning_closed_deal is new_deal or nothing")?,
            source_of_truth: self
                .source_of_truth
                .parse()
                .map_err(|_| "crm.source_of_truth is wab24 or open_line")?,
        })
    }
}

impl From<&tenancy::CrmPolicy> for CrmPolicyIo {
    fn from(p: &tenancy::CrmPolicy) -> Self {
        CrmPolicyIo {
            mode: p.mode.as_str().to_owned(),
            category_id: p.category_id,
            stage_id: p.stage_id.clone(),
            responsible: p.responsible.as_str().to_owned(),
            returning_closed_deal: p.returning_closed_deal.as_str().to_owned(),
            source_of_truth: p.source_of_truth.as_str().to_owned(),
        }
    }
}

/// Where a line's conversations go, as the API names it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenChannelIn {
    /// Our chat panel only.
    Panel,
    /// The Bitrix24 Open Line only.
    Openline,
    /// Both.
    Both,
}

impl From<OpenChannelIn> for tenancy::OpenChannel {
    fn from(c: OpenChannelIn) -> Self {
        match c {
            OpenChannelIn::Panel => tenancy::OpenChannel::Panel,
            OpenChannelIn::Openline => tenancy::OpenChannel::OpenLine,
            OpenChannelIn::Both => tenancy::OpenChannel::Both,
        }
    }
}

/// A field that may be sent as `null`: present (`Some`, whatever its value) or absent (`None`,
/// through `#[serde(default)]`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// One of the portal's Open Lines (`GET /api/open-lines`).
#[derive(Debug, Clone, Serialize)]
pub struct OpenLineOut {
    /// The Open Line's id in Bitrix24.
    pub id: i64,
    /// Its name (`LINE_NAME`).
    pub name: String,
    /// Whether it is active (`ACTIVE` = `Y`).
    pub active: bool,
    /// Our line that sends its conversations there, if any.
    pub line_id: Option<i64>,
}

/// `GET /api/open-lines`.
#[derive(Debug, Serialize)]
pub struct OpenLinesOut {
    /// The portal's Open Lines, by id.
    pub open_lines: Vec<OpenLineOut>,
}

/// `POST /api/open-lines`: a new Open Line in Bitrix24.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOpenLine {
    /// Its name (1 to 100 characters).
    pub name: String,
    /// The line it is made for: the line's assigned user becomes its operator queue.
    #[serde(default)]
    pub line_id: Option<i64>,
}

/// `PUT /api/lines/{id}/assignment`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The user to assign (`null` unassigns).
    pub user_id: Option<i64>,
}

/// A contact.
#[derive(Debug, Serialize)]
pub struct ContactOut {
    /// Id.
    pub id: i64,
    /// Line.
    pub line_id: i64,
    /// WhatsApp JID.
    pub jid: String,
    /// Phone number.
    pub phone: Option<String>,
    /// WhatsApp push name.
    pub push_name: Option<String>,
}

impl From<Contact> for ContactOut {
    fn from(c: Contact) -> Self {
        ContactOut {
            id: c.id,
            line_id: c.line_id,
            jid: c.jid,
            phone: c.phone,
            push_name: c.push_name,
        }
    }
}

/// A conversation.
#[derive(Debug, Serialize)]
pub struct ConversationOut {
    /// Id.
    pub id: i64,
    /// Line.
    pub line_id: i64,
    /// The customer.
    pub contact: ContactOut,
    /// Unread inbound messages.
    pub unread: i64,
    /// The newest message.
    pub last_message_id: Option<i64>,
    /// Its time (Unix ms).
    pub last_message_at: Option<i64>,
    /// The newest message itself, for the list's preview (in conversation lists; `null`
    /// elsewhere).
    pub last_message: Option<MessageOut>,
}

impl From<Conversation> for ConversationOut {
    fn from(c: Conversation) -> Self {
        ConversationOut {
            id: c.id,
            line_id: c.line_id,
            contact: c.contact.into(),
            unread: c.unread,
            last_message_id: c.last_message_id,
            last_message_at: c.last_message_at,
            last_message: None,
        }
    }
}

/// `POST /api/lines/{id}/chats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartChat {
    /// The customer's number, international (`+` and the country code), as people type it.
    pub phone: String,
}

/// `POST /api/conversations/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendText {
    /// The text (Unicode, at most 64 KiB).
    pub text: String,
    /// The message replied to (same conversation).
    #[serde(default)]
    pub quoted_id: Option<i64>,
    /// Makes a retried request send once (a fresh one is made when absent).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `POST /api/conversations/{id}/reactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendReaction {
    /// The message reacted to (same conversation).
    pub message_id: i64,
    /// The emoji; empty takes the reaction back.
    pub emoji: String,
    /// As in [`SendText`].
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// The query of `POST /api/conversations/{id}/media`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaQuery {
    /// `image`, `video`, `document` or `voice`.
    pub kind: String,
    /// The file's name (shown to the customer for documents).
    #[serde(default)]
    pub file_name: Option<String>,
    /// A caption (images, videos, documents).
    #[serde(default)]
    pub caption: Option<String>,
    /// The message replied to.
    #[serde(default)]
    pub quoted_id: Option<i64>,
    /// As in [`SendText`].
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A page of history.
#[derive(Debug, Serialize)]
pub struct HistoryOut {
    /// Newest first.
    pub messages: Vec<MessageOut>,
    /// Pass as `before` for the next older page.
    pub next: Option<i64>,
}

/// `GET /api/conversations/{id}/messages` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Messages older than this id.
    pub before: Option<i64>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u32>,
}

/// `GET /api/conversations/search` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Part of a name, phone number (digits, or as displayed: `+7 916 000-00-01`), JID or
    /// message text.
    pub q: String,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<u32>,
}

/// `GET /api/conversations/by-phone`.
#[derive(Debug, Deserialize)]
pub struct PhonesQuery {
    /// Phone numbers as written (`+7 916 000-00-01`, `8 916 000 00 01`), comma-separated, at
    /// most 20.
    pub phones: String,
}

/// A user.
#[derive(Debug, Serialize)]
pub struct UserOut {
    /// Bitrix24 id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Whether the portal said they administer the app (known once they opened it).
    pub is_admin: bool,
    /// Whether the portal says they are active (a deactivated user cannot use the app).
    pub active: bool,
    /// Their photo's URL (`PERSONAL_PHOTO`), when they have one.
    pub avatar: Option<String>,
    /// The departments they are in (`UF_DEPARTMENT`).
    pub departments: Vec<i64>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            id: u.id,
            name: u.name,
            is_admin: u.is_admin,
            active: true,
            avatar: None,
            departments: vec![],
        }
    }
}

impl From<DirectoryUser> for UserOut {
    fn from(u: DirectoryUser) -> Self {
        UserOut {
            id: u.id,
            name: u.name,
            is_admin: u.is_admin,
            active: u.active,
            avatar: u.avatar,
            departments: u.departments,
        }
    }
}

/// A department of the portal.
#[derive(Debug, Serialize)]
pub struct DepartmentOut {
    /// Bitrix24 id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The department above it.
    pub parent: Option<i64>,
    /// Its head.
    pub head: Option<i64>,
}

impl From<Department> for DepartmentOut {
    fn from(d: Department) -> Self {
        DepartmentOut { id: d.id, name: d.name, parent: d.parent, head: d.head }
    }
}

/// `GET /api/access` answer and `PUT /api/access` body: who may use the app. Both empty:
/// everyone; administrators always.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    /// Users allowed.
    pub users: Vec<i64>,
    /// Departments allowed, with the departments below them.
    pub departments: Vec<i64>,
}

/// `GET /api/users`.
#[derive(Debug, Serialize)]
pub struct UsersOut {
    /// The users.
    pub users: Vec<UserOut>,
    /// The portal's departments.
    pub departments: Vec<DepartmentOut>,
    /// `portal` when just read from Bitrix24, `cache` when the portal could not be reached.
    pub source: &'static str,
}

/// `GET /api/audit` and `/api/audit/export` query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this kind (`line.created`, ...).
    pub kind: Option<String>,
    /// Only this subject (`line:3`, ...).
    pub subject: Option<String>,
    /// Only this actor (`system`, `admin:1`, `user:2`).
    pub actor: Option<String>,
    /// At or after (Unix ms).
    pub since: Option<i64>,
    /// Before (Unix ms).
    pub until: Option<i64>,
    /// After this sequence number (the previous page's `next`).
    pub after: Option<i64>,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<u32>,
}

/// One audit record.
#[derive(Debug, Serialize)]
pub struct AuditRecordOut {
    /// Sequence number.
    pub seq: i64,
    /// Time (Unix ms).
    pub at_ms: i64,
    /// Kind.
    pub kind: &'static str,
    /// Who.
    pub actor: String,
    /// About what.
    pub subject: String,
    /// The raw payload: JSON when it is JSON, otherwise `payload_hex` is set.
    pub payload: Option<serde_json::Value>,
    /// The raw payload in hex when it is not JSON.
    pub payload_hex: Option<String>,
    /// The previous record's hash, hex.
    pub prev_hash: String,
    /// This record's hash, hex.
    pub hash: String,
}

impl From<tenancy::audit::Record> for AuditRecordOut {
    fn from(r: tenancy::audit::Record) -> Self {
        let json = serde_json::from_slice::<serde_json::Value>(&r.payload).ok();
        AuditRecordOut {
            seq: r.seq,
            at_ms: r.at_ms,
            kind: r.kind.as_str(),
            actor: r.actor,
            subject: r.subject,
            payload_hex: if json.is_none() { Some(hex::encode(&r.payload)) } else { None },
            payload: json,
            prev_hash: hex::encode(r.prev_hash),
            hash: hex::encode(r.hash),
        }
    }
}

/// A page of audit records.
#[derive(Debug, Serialize)]
pub struct AuditPageOut {
    /// Records in sequence order.
    pub records: Vec<AuditRecordOut>,
    /// Pass as `after` for the next page.
    pub next: Option<i64>,
}

/// `GET /api/subscription`.
#[derive(Debug, Serialize)]
pub struct SubscriptionOut {
    /// The plan's name.
    pub plan: String,
    /// Lines in use.
    pub lines_used: i64,
    /// Lines the plan allows.
    pub lines_allowed: i64,
    /// When the trial ends (Unix ms), if on trial.
    pub trial_ends_at: Option<i64>,
    /// Whole days of trial left (0 when it ended), if on trial.
    pub trial_days_left: Option<i64>,
    /// Whether writes are refused (trial ended).
    pub read_only: bool,
    /// The price of one line per month, in whole units of `currency`.
    pub price_per_line: i64,
    /// The price's currency (ISO 4217).
    pub currency: String,
    /// Whether administrators can send an upgrade request (the operator configured the hook).
    pub upgrade_available: bool,
}

/// `POST /api/subscription/upgrade`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// How many lines the portal wants in all (1 to 10000).
    pub lines: i64,
}

/// `POST /api/hooks/plan` (from the billing system).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    /// The tenant.
    pub member_id: String,
    /// The new plan's name.
    pub plan: String,
    /// Lines it allows.
    pub line_quota: i64,
    /// When its trial ends (Unix ms); absent or `null` for a paid plan.
    #[serde(default)]
    pub trial_ends_at: Option<i64>,
}
