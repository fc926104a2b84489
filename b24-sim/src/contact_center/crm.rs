//! The CRM tracker of a new session: with the line's `CRM` on, find the client by phone, e-mail
//! or open line code, or create what `CRM_CREATE` says (`lead`, or a contact and a `deal`;
//! `none` creates nothing), responsible being the session's operator, or the known client's
//! responsible who then takes the session when `CRM_FORWARD` is on (imopenlines.config.add).
//! Bitrix24 does this a moment after the message; the simulator does it at once.

use serde_json::{Map, Value, json};

use crate::{
    contact_center::{OpenLineCustomer, OpenLineSession},
    portal::Portal,
};

/// CRM entity types (`entityTypeId`).
const LEAD: u32 = 1;
const DEAL: u32 = 2;
const CONTACT: u32 = 3;
const COMPANY: u32 = 4;

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The open line code Bitrix24 files a client's chat under in the `IM` multifield.
fn imol_code(session: &OpenLineSession) -> String {
    format!(
        "imol|{}|{}|{}|{}",
        session.connector, session.line, session.external_chat_id, session.external_user_id
    )
}

/// Whether a CRM item's multifields hold this customer's phone, e-mail or chat.
fn matches_client(item: &Value, customer: &OpenLineCustomer, imol: &str) -> bool {
    let phone = customer.phone.as_deref().map(digits).filter(|p| !p.is_empty());
    let email = customer.email.as_deref().map(|e| e.trim().to_ascii_lowercase());
    item.get("fm").and_then(Value::as_array).is_some_and(|fm| {
        fm.iter().any(|f| {
            let kind = f.get("typeId").and_then(Value::as_str).unwrap_or("");
            let value = f.get("value").and_then(Value::as_str).unwrap_or("");
            (kind.eq_ignore_ascii_case("PHONE") && phone.as_deref() == Some(digits(value).as_str()))
                || (kind.eq_ignore_ascii_case("EMAIL")
                    && email.as_deref() == Some(value.trim().to_ascii_lowercase().as_str()))
                || (kind.eq_ignore_ascii_case("IM") && value == imol)
        })
    })
}

impl Portal {
    fn crm_add(&mut self, entity_type: u32, fields: Map<String, Value>) -> u64 {
        let id = self.id();
        let mut item = fields;
        item.insert("id".to_owned(), json!(id));
        item.insert("entityTypeId".to_owned(), json!(entity_type));
        self.crm.entry(entity_type).or_default().insert(id, Value::Object(item));
        id
    }

    /// The first client (contact, company, then lead) whose multifields match: its type, id and
    /// responsible.
    fn find_client(
        &self,
        customer: &OpenLineCustomer,
        imol: &str,
    ) -> Option<(u32, u64, Option<u64>)> {
        [CONTACT, COMPANY, LEAD].into_iter().find_map(|et| {
            self.crm.get(&et)?.iter().find(|(_, item)| matches_client(item, customer, imol)).map(
                |(id, item)| {
                    let responsible =
                        item.get("assignedById").and_then(b24_client::Id::from_value).map(|i| i.0);
                    (et, *id, responsible)
                },
            )
        })
    }

    /// A deal of the client that is not closed.
    fn open_deal_of(&self, key: &str, client: u64) -> Option<u64> {
        self.crm.get(&DEAL)?.iter().find_map(|(id, deal)| {
            let of_client =
                deal.get(key).and_then(b24_client::Id::from_value).is_some_and(|c| c.0 == client);
            let closed = deal.get("closed").and_then(b24_client::quirks::flex_bool) == Some(true);
            (of_client && !closed).then_some(*id)
        })
    }

    /// Finds or creates the session's CRM items and sets who answers.
    pub(crate) fn track_crm(&mut self, session: &mut OpenLineSession, responsible: u64) {
        let line = session.line;
        if self.line_setting(line, "CRM").as_deref() != Some("Y") {
            return;
        }
        let Some(customer) =
            self.center.customers.values().find(|c| c.user_id == session.customer).cloned()
        else {
            return;
        };
        let create = self.line_setting(line, "CRM_CREATE").unwrap_or_else(|| "lead".to_owned());
        let forward = self.line_setting(line, "CRM_FORWARD").as_deref() == Some("Y");
        // Anything but empty or `N` asks for a repeat lead for a known client.
        let repeat =
            self.line_setting(line, "CRM_CREATE_SECOND").is_some_and(|s| !s.is_empty() && s != "N");
        let source = self.line_setting(line, "CRM_SOURCE").unwrap_or_default();
        let line_name = self.line_setting(line, "LINE_NAME").unwrap_or_default();
        let imol = imol_code(session);
        let mut responsible = responsible;
        let mut fm = vec![json!({"typeId": "IM", "valueType": "IMOL", "value": imol})];
        if let Some(phone) = &customer.phone {
            fm.push(json!({"typeId": "PHONE", "valueType": "WORK", "value": phone}));
        }
        if let Some(email) = &customer.email {
            fm.push(json!({"typeId": "EMAIL", "valueType": "WORK", "value": email}));
        }
        let person = |responsible: u64| -> Map<String, Value> {
            let mut m = Map::new();
            m.insert(
                "name".to_owned(),
                json!(customer.name.clone().unwrap_or_else(|| customer.display_name())),
            );
            if let Some(last) = &customer.last_name {
                m.insert("lastName".to_owned(), json!(last));
            }
            m.insert("assignedById".to_owned(), json!(responsible));
            m.insert("sourceId".to_owned(), json!(source));
            m.insert("fm".to_owned(), Value::Array(fm.clone()));
            m
        };
        let title = format!("{} - {}", customer.display_name(), line_name);
        let new_lead = |p: &mut Portal, responsible: u64| {
            let mut fields = person(responsible);
            fields.insert("title".to_owned(), json!(title));
            fields.insert("statusId".to_owned(), json!("NEW"));
            p.crm_add(LEAD, fields)
        };
        let new_deal = |p: &mut Portal, key: &str, client: u64, responsible: u64| {
            let mut fields = Map::new();
            fields.insert("title".to_owned(), json!(title));
            fields.insert(key.to_owned(), json!(client));
            fields.insert("stageId".to_owned(), json!("NEW"));
            fields.insert("categoryId".to_owned(), json!(0));
            fields.insert("assignedById".to_owned(), json!(responsible));
            fields.insert("sourceId".to_owned(), json!(source));
            p.crm_add(DEAL, fields)
        };
        match self.find_client(&customer, &imol) {
            Some((et, id, owner)) => {
                if forward && let Some(owner) = owner.filter(|o| self.users.contains_key(o)) {
                    session.operator = Some(owner);
                    responsible = owner;
                }
                match et {
                    CONTACT => session.crm.contact = Some(id),
                    COMPANY => session.crm.company = Some(id),
                    _ => session.crm.lead = Some(id),
                }
                let client_key = match et {
                    CONTACT => Some("contactId"),
                    COMPANY => Some("companyId"),
                    _ => None,
                };
                match (create.as_str(), client_key) {
                    ("deal", Some(key)) => {
                        let deal = match self.open_deal_of(key, id) {
                            Some(deal) => deal,
                            None => {
                                session.crm.created = true;
                                new_deal(self, key, id, responsible)
                            }
                        };
                        session.crm.deal = Some(deal);
                    }
                    ("lead", _) if repeat => {
                        session.crm.lead = Some(new_lead(self, responsible));
                        session.crm.created = true;
                    }
                    _ => {}
                }
            }
            None => match create.as_str() {
                "lead" => {
                    session.crm.lead = Some(new_lead(self, responsible));
                    session.crm.created = true;
                }
                "deal" => {
                    let contact = self.crm_add(CONTACT, person(responsible));
                    session.crm.contact = Some(contact);
                    session.crm.deal = Some(new_deal(self, "contactId", contact, responsible));
                    session.crm.created = true;
                }
                _ => {}
            },
        }
    }
}
