//! The card a tab was opened in (`PLACEMENT` and `PLACEMENT_OPTIONS.ID`; REST docs
//! `api-reference/widgets/crm/detail-tab.md`) and its phone numbers, read from the portal under
//! the installation's tokens: a contact's, company's or lead's own (`crm.item.get`, the `fm`
//! multifields of type `PHONE`), a deal's from its contacts and company.

use b24_client::{Id, Portal, inbound::FrameRequest};
use serde_json::{Value, json};

use super::matching::{MAX_PHONES, phone_key};
use crate::error::{ApiError, ApiResult};

/// A CRM item type with a WhatsApp tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A lead (`entityTypeId` 1).
    Lead,
    /// A deal (2).
    Deal,
    /// A contact (3).
    Contact,
    /// A company (4).
    Company,
}

impl Kind {
    /// The kind whose detail tab `placement` is.
    pub fn of_placement(placement: &str) -> Option<Kind> {
        Some(match placement.to_ascii_uppercase().as_str() {
            "CRM_LEAD_DETAIL_TAB" => Kind::Lead,
            "CRM_DEAL_DETAIL_TAB" => Kind::Deal,
            "CRM_CONTACT_DETAIL_TAB" => Kind::Contact,
            "CRM_COMPANY_DETAIL_TAB" => Kind::Company,
            _ => return None,
        })
    }

    /// The `entityTypeId` (REST docs `api-reference/crm/data-types.md`).
    pub fn entity_type_id(self) -> u32 {
        match self {
            Kind::Lead => 1,
            Kind::Deal => 2,
            Kind::Contact => 3,
            Kind::Company => 4,
        }
    }

    /// `lead`, `deal`, `contact` or `company`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lead => "lead",
            Kind::Deal => "deal",
            Kind::Contact => "contact",
            Kind::Company => "company",
        }
    }
}

/// The card a tab frame was opened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Card {
    /// Its type.
    pub kind: Kind,
    /// Its id.
    pub id: u64,
}

/// Reads the card from a tab frame: 400 for another placement or without a usable `ID`.
pub fn card(frame: &FrameRequest) -> ApiResult<Card> {
    let kind = Kind::of_placement(&frame.placement).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "this page is the CRM card's WhatsApp tab (PLACEMENT=CRM_*_DETAIL_TAB), not {}",
            frame.placement.chars().take(40).collect::<String>()
        ))
    })?;
    let id = frame
        .placement_options
        .get("ID")
        .and_then(Id::from_value)
        .filter(|id| id.0 > 0 && i64::try_from(id.0).is_ok())
        .ok_or_else(|| ApiError::BadRequest("PLACEMENT_OPTIONS has no CRM item (ID)".to_owned()))?;
    Ok(Card { kind, id: id.0 })
}

/// A card as the tab shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPhones {
    /// The card's name (a contact's name, else its title).
    pub title: String,
    /// Its numbers as written in the CRM, one per key, at most [`MAX_PHONES`].
    pub phones: Vec<String>,
}

/// At most this many contacts of a deal are read.
const MAX_DEAL_CONTACTS: usize = 10;

fn text(item: &Value, key: &str) -> String {
    item.get(key).and_then(Value::as_str).unwrap_or("").trim().to_owned()
}

/// The card's name, at most 200 characters.
fn title_of(kind: Kind, item: &Value) -> String {
    let title = match kind {
        Kind::Contact => {
            format!("{} {}", text(item, "name"), text(item, "lastName")).trim().to_owned()
        }
        _ => text(item, "title"),
    };
    title.chars().take(200).collect()
}

/// The `PHONE` values of an item's `fm` multifields.
pub fn item_phones(item: &Value) -> Vec<String> {
    item.get("fm")
        .and_then(Value::as_array)
        .map(|fm| {
            fm.iter()
                .filter(|f| {
                    f.get("typeId")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("PHONE"))
                })
                .filter_map(|f| f.get("value").and_then(Value::as_str))
                .map(|v| v.chars().take(64).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The contacts and company a deal names (`contactId`, `contactIds`, `companyId`).
pub fn deal_parties(deal: &Value) -> (Vec<u64>, Option<u64>) {
    let mut contacts: Vec<u64> = vec![];
    let mut push = |v: &Value| {
        if let Some(id) = Id::from_value(v).filter(|i| i.0 > 0)
            && !contacts.contains(&id.0)
        {
            contacts.push(id.0);
        }
    };
    if let Some(v) = deal.get("contactId") {
        push(v);
    }
    if let Some(ids) = deal.get("contactIds").and_then(Value::as_array) {
        ids.iter().for_each(&mut push);
    }
    contacts.truncate(MAX_DEAL_CONTACTS);
    let company = deal.get("companyId").and_then(Id::from_value).filter(|i| i.0 > 0).map(|i| i.0);
    (contacts, company)
}

async fn item_get(portal: &Portal, kind: Kind, id: u64) -> Result<Value, b24_client::Error> {
    let env = portal
        .call("crm.item.get", json!({"entityTypeId": kind.entity_type_id(), "id": id}))
        .await?;
    env.result
        .get("item")
        .cloned()
        .ok_or(b24_client::Error::Decode { what: "crm.item.get", message: "no item".to_owned() })
}

/// The card's title and numbers: its own, or for a deal its contacts' and company's (one that
/// is gone is skipped).
pub async fn card_phones(portal: &Portal, card: Card) -> Result<CardPhones, b24_client::Error> {
    let item = item_get(portal, card.kind, card.id).await?;
    let title = title_of(card.kind, &item);
    let mut phones = item_phones(&item);
    if card.kind == Kind::Deal {
        let (contacts, company) = deal_parties(&item);
        let parties = contacts
            .into_iter()
            .map(|c| (Kind::Contact, c))
            .chain(company.map(|c| (Kind::Company, c)));
        for (kind, id) in parties {
            match item_get(portal, kind, id).await {
                Ok(party) => phones.extend(item_phones(&party)),
                Err(b24_client::Error::Api { code: b24_client::ErrorCode::NotFound, .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut seen: Vec<String> = vec![];
    phones.retain(|p| match phone_key(p) {
        Some(k) if !seen.contains(&k) && seen.len() < MAX_PHONES => {
            seen.push(k);
            true
        }
        _ => false,
    });
    Ok(CardPhones { title, phones })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(placement: &str, options: &str) -> FrameRequest {
        let body = b24_client::form::encode(&json!({
            "AUTH_ID": "a", "member_id": "m", "PLACEMENT": placement, "PLACEMENT_OPTIONS": options,
        }));
        FrameRequest::parse("DOMAIN=p.bitrix24.com&PROTOCOL=1&LANG=en&APP_SID=s", body.as_bytes())
            .unwrap()
    }

    /// The options as the docs show them (api-reference/widgets/crm/detail-tab.md).
    #[test]
    fn the_card_is_read_from_the_placement_as_documented() {
        let f = frame(
            "CRM_DEAL_DETAIL_TAB",
            r#"{"ID":"8061","URI":"\/crm\/deal\/details\/8061\/?any=details%2F8061%2F&IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER"}"#,
        );
        assert_eq!(card(&f).unwrap(), Card { kind: Kind::Deal, id: 8061 });
        assert_eq!(
            card(&frame("crm_contact_detail_tab", r#"{"ID":5}"#)).unwrap().kind,
            Kind::Contact
        );
        for (p, o) in [
            ("DEFAULT", r#"{"ID":"1"}"#),
            ("CRM_DEAL_DETAIL_TAB", r#"{}"#),
            ("CRM_DEAL_DETAIL_TAB", r#"{"ID":"0"}"#),
            ("CRM_DEAL_DETAIL_TAB", r#"{"ID":"x"}"#),
        ] {
            assert_eq!(
                card(&frame(p, o)).unwrap_err().status(),
                warp::http::StatusCode::BAD_REQUEST,
                "{p} {o}"
            );
        }
    }

    #[test]
    fn phones_and_a_deals_parties_come_from_their_fields() {
        let item = json!({"fm": [
            {"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 000-00-01"},
            {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.test"},
            {"typeId": "phone", "valueType": "MOBILE", "value": "8 916 000 00 02"}]});
        assert_eq!(item_phones(&item), vec!["+7 916 000-00-01", "8 916 000 00 02"]);
        assert!(item_phones(&json!({})).is_empty());
        let deal = json!({"contactId": 5, "contactIds": [5, "6"], "companyId": 0});
        assert_eq!(deal_parties(&deal), (vec![5, 6], None));
        assert_eq!(deal_parties(&json!({"companyId": "9"})), (vec![], Some(9)));
    }
}
