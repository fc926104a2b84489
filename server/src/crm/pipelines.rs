//! The deal pipelines (`crm.category.list`, entity type 2) and their stages (`crm.status.list`,
//! `ENTITY_ID` `DEAL_STAGE` for the default pipeline 0, `DEAL_STAGE_<id>` for the others), as
//! the line's CRM policy form offers them (RD `crm/universal/category/crm-category-list.md`,
//! `crm/status/crm-status-list.md`).

use b24_client::{Error as B24Error, Id, Portal};
use serde::Serialize;
use serde_json::{Value, json};

/// A stage of a pipeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Stage {
    /// The stage id (`NEW`, `C1:NEW`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `process`, `success` or `failure` (the closing ones).
    pub semantics: &'static str,
}

/// A deal pipeline and its stages.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pipeline {
    /// The category id (0: the default pipeline).
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Whether it is the default one.
    pub is_default: bool,
    /// Its stages, in their order.
    pub stages: Vec<Stage>,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// What a status's `SEMANTICS` says: `S` success, `F` failure, anything else in progress.
fn semantics(status: &Value) -> &'static str {
    match status.get("SEMANTICS").and_then(Value::as_str) {
        Some("S") => "success",
        Some("F") => "failure",
        _ => "process",
    }
}

/// Reads the portal's deal pipelines and their stages (two calls).
pub async fn pipelines(portal: &Portal) -> Result<Vec<Pipeline>, B24Error> {
    let categories = portal.call("crm.category.list", json!({ "entityTypeId": 2 })).await?;
    let statuses =
        portal.call("crm.status.list", json!({ "order": { "SORT": "ASC" } })).await?.result;
    let statuses = statuses.as_array().cloned().unwrap_or_default();
    let list = categories.result.get("categories").and_then(Value::as_array).cloned();
    let mut out = vec![];
    for c in list.unwrap_or_default() {
        let Some(id) = c.get("id").and_then(Id::from_value) else { continue };
        let entity =
            if id.0 == 0 { "DEAL_STAGE".to_owned() } else { format!("DEAL_STAGE_{}", id.0) };
        let mut stages: Vec<(i64, Stage)> = statuses
            .iter()
            .filter(|s| s.get("ENTITY_ID").and_then(Value::as_str) == Some(entity.as_str()))
            .map(|s| {
                let sort = text(s, "SORT").parse().unwrap_or(0);
                (
                    sort,
                    Stage {
                        id: text(s, "STATUS_ID"),
                        name: text(s, "NAME"),
                        semantics: semantics(s),
                    },
                )
            })
            .collect();
        stages.sort_by_key(|(sort, _)| *sort);
        out.push(Pipeline {
            id: id.0,
            name: text(&c, "name"),
            is_default: c.get("isDefault").and_then(Value::as_str) == Some("Y"),
            stages: stages.into_iter().map(|(_, s)| s).collect(),
        });
    }
    out.sort_by_key(|p| (!p.is_default, p.id));
    Ok(out)
}
