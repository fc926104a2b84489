//! A line's CRM policy (what the first message of an unknown number creates in Bitrix24's CRM,
//! and who is responsible) and the link between a conversation and the CRM items it made or
//! found.

use std::{fmt, str::FromStr};

use crate::{ConversationId, Error, LineId, Result};

text_enum!(
    /// What the first message of an unknown number creates.
    CrmMode {
        /// Nothing (the default).
        None = "none",
        /// A contact.
        Contact = "contact",
        /// A contact and a lead.
        ContactLead = "contact_lead",
        /// A contact and a deal in the chosen pipeline and stage.
        ContactDeal = "contact_deal",
    }
);

text_enum!(
    /// Who is made responsible for what is created.
    CrmResponsible {
        /// The line's assigned user.
        LineUser = "line_user",
        /// The known client's responsible person (the line's user for a new client).
        ClientResponsible = "client_responsible",
    }
);

text_enum!(
    /// What a returning customer whose leads or deals are all closed gets.
    ReturningClosedDeal {
        /// A new lead or deal.
        NewDeal = "new_deal",
        /// Nothing new: the conversation is linked to the contact only.
        Nothing = "nothing",
    }
);

text_enum!(
    /// Who creates the CRM items of a line's conversations.
    CrmSourceOfTruth {
        /// We do, as the policy says.
        Wab24 = "wab24",
        /// The Open Line the line feeds does, with its own CRM settings; we create nothing.
        OpenLine = "open_line",
    }
);

/// A line's CRM policy, set by an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmPolicy {
    /// What the first message of an unknown number creates.
    pub mode: CrmMode,
    /// The deal pipeline (`categoryId`; 0 is the default one), for [`CrmMode::ContactDeal`].
    pub category_id: i64,
    /// The deal stage (`stageId`), for [`CrmMode::ContactDeal`]; `None`: the pipeline's first.
    pub stage_id: Option<String>,
    /// Who is responsible.
    pub responsible: CrmResponsible,
    /// What a returning customer with only closed leads or deals gets.
    pub returning_closed_deal: ReturningClosedDeal,
    /// Who creates the CRM items.
    pub source_of_truth: CrmSourceOfTruth,
}

impl Default for CrmPolicy {
    fn default() -> Self {
        CrmPolicy {
            mode: CrmMode::None,
            category_id: 0,
            stage_id: None,
            responsible: CrmResponsible::LineUser,
            returning_closed_deal: ReturningClosedDeal::NewDeal,
            source_of_truth: CrmSourceOfTruth::Wab24,
        }
    }
}

impl CrmPolicy {
    /// Whether we create anything for the line's new conversations.
    pub fn creates(&self) -> bool {
        self.mode != CrmMode::None && self.source_of_truth == CrmSourceOfTruth::Wab24
    }
}

/// A conversation and the CRM items it made or found in Bitrix24.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmLink {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its line.
    pub line_id: LineId,
    /// The contact.
    pub contact_id: Option<i64>,
    /// The lead.
    pub lead_id: Option<i64>,
    /// The deal.
    pub deal_id: Option<i64>,
    /// Whether routing is over (everything the policy asks for is linked).
    pub complete: bool,
}

impl CrmLink {
    /// An empty link for a conversation.
    pub fn new(conversation_id: ConversationId, line_id: LineId) -> Self {
        CrmLink { conversation_id, line_id, ..CrmLink::default() }
    }
}

/// The `originatorId` we set on CRM items we create (with `originId` = [`crm_origin_id`]).
pub const CRM_ORIGINATOR: &str = "wab24";

/// The `originId` of the CRM items created for a conversation: how a retry finds what an
/// earlier attempt created.
pub fn crm_origin_id(conversation_id: ConversationId) -> String {
    format!("conversation:{conversation_id}")
}

/// The UTC day (`YYYY-MM-DD`) of a Unix-ms instant: a conversation's timeline entries are one
/// per such day.
pub fn crm_day(at_ms: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_default_creates_nothing() {
        for mode in [CrmMode::None, CrmMode::Contact, CrmMode::ContactLead, CrmMode::ContactDeal] {
            assert_eq!(mode.as_str().parse::<CrmMode>().unwrap(), mode);
        }
        assert!("lead".parse::<CrmMode>().is_err());
        assert!(!CrmPolicy::default().creates());
        let open_line = CrmPolicy {
            mode: CrmMode::ContactLead,
            source_of_truth: CrmSourceOfTruth::OpenLine,
            ..CrmPolicy::default()
        };
        assert!(!open_line.creates());
        assert!(CrmPolicy { mode: CrmMode::Contact, ..CrmPolicy::default() }.creates());
        assert_eq!(crm_origin_id(7), "conversation:7");
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(crm_day(0), "1970-01-01");
        assert_eq!(crm_day(1_767_225_599_999), "2025-12-31");
        assert_eq!(crm_day(1_767_225_600_000), "2026-01-01");
    }
}
