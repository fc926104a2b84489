//! A new conversation's CRM routing, one outbox item (`crm_route`, keyed by our conversation
//! id): find the client by phone (`crm.duplicate.findbycomm`), then link or create what the
//! line's policy says (`crm.item.add`, RD `crm/universal/crm-item-add.md`): a contact; a lead;
//! a deal in the chosen pipeline and stage, named after the customer's WhatsApp name or number,
//! with the phone, the source "WhatsApp (line name)" and the responsible person.
//!
//! Nothing is created twice: each step is recorded in our link table as it is done, and what we
//! create carries `originatorId` `wab24` and `originId` naming the conversation, so a retry
//! (Bitrix24's answer lost, the process killed) looks it up (`crm.item.list`) before creating
//! again. A returning customer keeps their contact and open lead or deal; one whose leads or
//! deals are all closed gets a new one or none, as the policy says.

use b24_client::{Error as B24Error, Id, Portal};
use serde_json::{Value, json};
use tenancy::{
    B24OutboxItem, CRM_ORIGINATOR, Caller, Conversation, CrmLink, CrmMode, CrmPolicy,
    CrmResponsible, Line, ReturningClosedDeal, Tenant, crm_origin_id,
};

use super::{
    entity::{CONTACT, DEAL, LEAD},
    phone::e164,
};
use crate::{open_channels::store_error::storage, state::AppState};

/// What routing did, for the outbox's audit record: the Bitrix24 ids linked and created.
fn answer(link: &CrmLink, created: &[(&str, u64)], note: Option<&str>) -> Value {
    json!({
        "method": "crm.item.add",
        "conversation_id": link.conversation_id,
        "contact_id": link.contact_id,
        "lead_id": link.lead_id,
        "deal_id": link.deal_id,
        "created": created.iter().map(|(kind, id)| json!({ "kind": kind, "id": id })).collect::<Vec<_>>(),
        "note": note,
    })
}

/// The conversation the item routes.
pub(crate) fn conversation_of(item: &B24OutboxItem) -> Result<i64, B24Error> {
    let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
    payload.get("conversation_id").and_then(Value::as_i64).ok_or_else(|| B24Error::Decode {
        what: "outbox payload",
        message: "no conversation_id".to_owned(),
    })
}

/// An answer to a write that could not be read (cut, not JSON): the write may have happened,
/// so the item is tried again (and finds it by its origin) rather than given up.
pub(crate) fn answer_lost(e: B24Error) -> B24Error {
    match e {
        B24Error::Decode { what, message } => B24Error::Transport {
            method: what.to_owned(),
            message: format!("the answer could not be read: {message}"),
        },
        e => e,
    }
}

fn id_of(v: &Value) -> Option<u64> {
    v.get("id").and_then(Id::from_value).map(|i| i.0)
}

/// Whether a lead or deal is closed: its stage's semantics is success or failure.
fn closed(item: &Value) -> bool {
    match item.get("stageSemanticId").and_then(Value::as_str) {
        Some(s) => s == "S" || s == "F",
        None => item.get("closed").and_then(b24_client::quirks::flex_bool) == Some(true),
    }
}

/// The item of `entity_type` an earlier attempt created for this conversation, if any.
async fn ours(portal: &Portal, entity_type: u32, origin: &str) -> Result<Option<u64>, B24Error> {
    let filter = json!({ "originatorId": CRM_ORIGINATOR, "originId": origin });
    Ok(portal.crm_item_list(entity_type, filter).await?.iter().filter_map(id_of).min())
}

/// What the routing of one conversation needs.
struct Plan<'a> {
    portal: &'a Portal,
    policy: &'a CrmPolicy,
    line: &'a Line,
    conversation: &'a Conversation,
    phone: String,
    origin: String,
    /// A retry: an earlier attempt may have created items Bitrix24's answer did not tell us of.
    retry: bool,
}

impl Plan<'_> {
    /// The fields every item we create shares.
    fn common(&self, responsible: Option<u64>) -> serde_json::Map<String, Value> {
        let mut f = serde_json::Map::new();
        f.insert("sourceId".into(), json!("OTHER"));
        f.insert("sourceDescription".into(), json!(format!("WhatsApp ({})", self.line.name)));
        f.insert("originatorId".into(), json!(CRM_ORIGINATOR));
        f.insert("originId".into(), json!(self.origin));
        if let Some(r) = responsible {
            f.insert("assignedById".into(), json!(r));
        }
        f
    }

    /// The customer's WhatsApp name, else their number.
    fn name(&self) -> String {
        self.conversation
            .contact
            .push_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| self.phone.clone())
    }

    fn phone_field(&self) -> Value {
        json!([{ "typeId": "PHONE", "valueType": "MOBILE", "value": self.phone }])
    }

    async fn create(
        &self,
        entity_type: u32,
        fields: serde_json::Map<String, Value>,
    ) -> Result<u64, B24Error> {
        let item = self
            .portal
            .crm_item_add(entity_type, Value::Object(fields))
            .await
            .map_err(answer_lost)?;
        id_of(&item)
            .ok_or_else(|| B24Error::Decode { what: "crm.item.add", message: "no id".to_owned() })
    }

    async fn contact(&self, responsible: Option<u64>) -> Result<u64, B24Error> {
        let mut f = self.common(responsible);
        f.insert("name".into(), json!(self.name()));
        f.insert("fm".into(), self.phone_field());
        self.create(CONTACT, f).await
    }

    async fn lead(&self, contact: u64, responsible: Option<u64>) -> Result<u64, B24Error> {
        let mut f = self.common(responsible);
        f.insert("title".into(), json!(format!("WhatsApp: {}", self.name())));
        f.insert("name".into(), json!(self.name()));
        f.insert("contactId".into(), json!(contact));
        f.insert("fm".into(), self.phone_field());
        self.create(LEAD, f).await
    }

    async fn deal(&self, contact: u64, responsible: Option<u64>) -> Result<u64, B24Error> {
        let mut f = self.common(responsible);
        f.insert("title".into(), json!(format!("WhatsApp: {}", self.name())));
        f.insert("contactId".into(), json!(contact));
        f.insert("categoryId".into(), json!(self.policy.category_id));
        if let Some(stage) = &self.policy.stage_id {
            f.insert("stageId".into(), json!(stage));
        }
        self.create(DEAL, f).await
    }
}

/// Routes the item's conversation. Returns what to audit.
pub async fn run(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    item: &B24OutboxItem,
) -> Result<Value, B24Error> {
    let conversation_id = conversation_of(item)?;
    let sys = Caller::System;
    let conversation = tenant.conversation(sys, conversation_id).await.map_err(storage)?;
    let line = tenant.line(sys, item.line_id).await.map_err(storage)?;
    let policy = tenant.crm_policy(sys, line.id).await.map_err(storage)?;
    let mut link = tenant
        .crm_link(sys, conversation_id)
        .await
        .map_err(storage)?
        .unwrap_or_else(|| CrmLink::new(conversation_id, line.id));
    if link.complete {
        return Ok(answer(&link, &[], Some("already routed")));
    }
    // The policy changed since the message came: it decides now.
    if !policy.creates() {
        return Ok(answer(&link, &[], Some("the line's policy creates nothing")));
    }
    let Some(phone) = e164(&conversation) else {
        return Ok(answer(&link, &[], Some("no phone number to go by")));
    };
    let plan = Plan {
        portal,
        policy: &policy,
        line: &line,
        conversation: &conversation,
        phone,
        origin: crm_origin_id(conversation_id),
        retry: item.attempts > 1,
    };
    let mut created: Vec<(&str, u64)> = vec![];
    let save = |link: CrmLink| async move {
        tenant.set_crm_link(sys, &link, state.now()).await.map_err(storage)
    };
    let found = portal.crm_find_by_comm("PHONE", &[plan.phone.as_str()]).await?;
    // The conversation's responsible person as the line's rule chooses it (a department's line:
    // first to answer or evenly), else the line's assigned user.
    let line_user = tenant
        .choose_responsible(sys, conversation_id)
        .await
        .map_err(storage)?
        .or(line.assigned_user)
        .and_then(|u| u64::try_from(u).ok());

    // The contact: linked already, known by phone, made by an earlier attempt, or new.
    let mut known_client = None;
    if link.contact_id.is_none() {
        let by_phone = found.contacts.iter().map(|i| i.0).min();
        let contact = match by_phone {
            Some(id) => {
                known_client = Some(id);
                id
            }
            None => {
                let earlier =
                    if plan.retry { ours(portal, CONTACT, &plan.origin).await? } else { None };
                match earlier {
                    Some(id) => id,
                    None => {
                        let id = plan.contact(line_user).await?;
                        created.push(("contact", id));
                        id
                    }
                }
            }
        };
        link.contact_id = i64::try_from(contact).ok();
        save(link.clone()).await?;
    } else if let Some(c) = link.contact_id.and_then(|c| u64::try_from(c).ok()) {
        // A retry after the contact was linked: known when someone else made it.
        let made_by_us = ours(portal, CONTACT, &plan.origin).await? == Some(c);
        known_client = (!made_by_us).then_some(c);
    }
    let contact = link.contact_id.and_then(|c| u64::try_from(c).ok()).unwrap_or_default();

    // Who is responsible for a new lead or deal.
    let responsible = match (policy.responsible, known_client) {
        (CrmResponsible::ClientResponsible, Some(client)) => {
            let items = portal.crm_item_list(CONTACT, json!({ "id": client })).await?;
            items
                .first()
                .and_then(|c| c.get("assignedById"))
                .and_then(Id::from_value)
                .map(|i| i.0)
                .or(line_user)
        }
        _ => line_user,
    };

    let mut note = None;
    match policy.mode {
        CrmMode::ContactLead if link.lead_id.is_none() => {
            let earlier = if plan.retry { ours(portal, LEAD, &plan.origin).await? } else { None };
            let lead = match earlier {
                Some(id) => Some(id),
                None => {
                    // The client's leads by phone: an open one is reused.
                    let ids: Vec<u64> = found.leads.iter().map(|i| i.0).collect();
                    let leads = if ids.is_empty() {
                        vec![]
                    } else {
                        portal.crm_item_list(LEAD, json!({ "@id": ids })).await?
                    };
                    let open = leads.iter().filter(|l| !closed(l)).filter_map(id_of).max();
                    match open {
                        Some(id) => Some(id),
                        None if !leads.is_empty()
                            && policy.returning_closed_deal == ReturningClosedDeal::Nothing =>
                        {
                            note = Some("the client's leads are closed: none created");
                            None
                        }
                        None => {
                            let id = plan.lead(contact, responsible).await?;
                            created.push(("lead", id));
                            Some(id)
                        }
                    }
                }
            };
            link.lead_id = lead.and_then(|l| i64::try_from(l).ok());
        }
        CrmMode::ContactDeal if link.deal_id.is_none() => {
            let earlier = if plan.retry { ours(portal, DEAL, &plan.origin).await? } else { None };
            let deal = match earlier {
                Some(id) => Some(id),
                None => {
                    let deals = if known_client.is_some() {
                        portal.crm_item_list(DEAL, json!({ "contactId": contact })).await?
                    } else {
                        vec![]
                    };
                    let open = deals.iter().filter(|d| !closed(d)).filter_map(id_of).max();
                    match open {
                        Some(id) => Some(id),
                        None if !deals.is_empty()
                            && policy.returning_closed_deal == ReturningClosedDeal::Nothing =>
                        {
                            note = Some("the client's deals are closed: none created");
                            None
                        }
                        None => {
                            let id = plan.deal(contact, responsible).await?;
                            created.push(("deal", id));
                            Some(id)
                        }
                    }
                }
            };
            link.deal_id = deal.and_then(|d| i64::try_from(d).ok());
        }
        _ => {}
    }
    link.complete = true;
    save(link.clone()).await?;
    tracing::info!(
        member_id = tenant.member_id(),
        conversation_id,
        contact_id = link.contact_id,
        lead_id = link.lead_id,
        deal_id = link.deal_id,
        created = created.len(),
        "conversation routed to the CRM"
    );
    Ok(answer(&link, &created, note))
}
