//! The CRM's built-in statuses and deal stages (`crm.status.list`, RD
//! `crm/status/crm-status-list.md`): lead statuses (`STATUS`) and each pipeline's deal stages
//! (`DEAL_STAGE` for the default pipeline 0, `DEAL_STAGE_<id>` with ids `C<id>:NEW` for the
//! others), with their semantics (`S` success, `F` failure, none: in progress).

/// One status or stage: (status id, name, semantics `S` success / `F` failure / none).
pub(crate) type Stage = (&'static str, &'static str, Option<&'static str>);

pub(crate) const LEAD_STATUSES: &[Stage] = &[
    ("NEW", "Unassigned", None),
    ("IN_PROCESS", "In progress", None),
    ("PROCESSED", "Processed", None),
    ("CONVERTED", "Good lead", Some("S")),
    ("JUNK", "Junk lead", Some("F")),
];

pub(crate) const DEAL_STAGES: &[Stage] = &[
    ("NEW", "New", None),
    ("PREPARATION", "Preparing documents", None),
    ("EXECUTING", "In progress", None),
    ("WON", "Deal won", Some("S")),
    ("LOSE", "Deal lost", Some("F")),
];

/// The deal pipelines of a new portal: the default one (id 0) and one more.
pub(crate) fn default_categories() -> Vec<(u64, String)> {
    vec![(0, "General".to_owned()), (1, "WhatsApp sales".to_owned())]
}

/// The `ENTITY_ID` of a pipeline's deal stages: `DEAL_STAGE` for 0, `DEAL_STAGE_<id>` else.
pub(crate) fn deal_stage_entity(category: u64) -> String {
    if category == 0 { "DEAL_STAGE".to_owned() } else { format!("DEAL_STAGE_{category}") }
}

/// A pipeline's stage ids: `NEW` in the default one, `C<id>:NEW` in the others.
pub(crate) fn deal_stage_id(category: u64, status: &str) -> String {
    if category == 0 { status.to_owned() } else { format!("C{category}:{status}") }
}
