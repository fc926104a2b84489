//! The demo portal's CRM: a contact for each simulated customer (their number written as a
//! person would, `+7 916 000-00-01`), a deal for the first and a lead for the second, so that
//! the shell's CRM (`/p/<domain>/crm`) has cards whose "WhatsApp" tab shows their chats.

use b24_sim::Sim;
use serde_json::json;

use super::whatsapp::CUSTOMERS;

/// A number as a person types it into the CRM: `+`, country code, groups.
fn as_typed(digits: &str) -> String {
    match digits.len() {
        11 => format!(
            "+{} {} {}-{}-{}",
            &digits[..1],
            &digits[1..4],
            &digits[4..7],
            &digits[7..9],
            &digits[9..]
        ),
        _ => format!("+{digits}"),
    }
}

/// What [`seed`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// The first customer's contact.
    pub contact: u64,
    /// Their deal.
    pub deal: u64,
}

/// Fills the demo portal's CRM (user 2 responsible).
pub fn seed(sim: &Sim, member_id: &str) -> Result<Seeded, b24_sim::Error> {
    let mut contacts = vec![];
    for (phone, name) in CUSTOMERS {
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        let id = sim.add_crm_item(
            member_id,
            3,
            &json!({"name": first, "lastName": last, "assignedById": 2, "sourceId": "WHATSAPP",
                    "fm": [{"typeId": "PHONE", "valueType": "MOBILE", "value": as_typed(phone)}]}),
        )?;
        contacts.push((id, name, phone));
    }
    let (contact, name, _) = contacts[0];
    let deal = sim.add_crm_item(
        member_id,
        2,
        &json!({"title": format!("Sofa for {name}"), "contactId": contact, "contactIds": [contact],
                "stageId": "NEW", "categoryId": 0, "assignedById": 2}),
    )?;
    let (_, name, phone) = contacts[1];
    sim.add_crm_item(
        member_id,
        1,
        &json!({"title": format!("Call back {name}"), "statusId": "NEW", "assignedById": 2,
                "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": as_typed(phone)}]}),
    )?;
    Ok(Seeded { contact, deal })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_people_type_them() {
        assert_eq!(as_typed("79160000001"), "+7 916 000-00-01");
        assert_eq!(as_typed("4915110000003"), "+4915110000003");
    }
}
