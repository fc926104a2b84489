//! The CRM's REST methods beyond the Open Lines tracker: pipelines (`crm.category.list`),
//! statuses and stages (`crm.status.list`), items (`crm.item.add/update` with their field
//! checks) and the timeline's log entries (`crm.timeline.logmessage.add/get/list`).
//!
//! REST docs (RD, `bitrix-tools/b24-rest-docs`): `api-reference/crm/universal/category/
//! crm-category-list.md`, `api-reference/crm/status/crm-status-list.md`,
//! `api-reference/crm/universal/crm-item-add.md`, `api-reference/crm/timeline/logmessage/*.md`.
//! Field errors carry the codes of Bitrix24's CRM field checks (`CRM_FIELD_ERROR_REQUIRED`,
//! `CRM_FIELD_ERROR_VALUE_NOT_VALID`, `CRM_FIELD_ERROR_CATEGORY_NOT_AVAILABLE`).

use b24_client::{ErrorCode, Id};
use serde_json::{Map, Value, json};

use crate::{
    crm_stages::{DEAL_STAGES, LEAD_STATUSES, Stage, deal_stage_entity, deal_stage_id},
    portal::{MethodError, MethodOk, Portal},
    reply::iso8601,
};

/// Lead (`entityTypeId` 1).
pub(crate) const LEAD: u32 = 1;
/// Deal.
pub(crate) const DEAL: u32 = 2;
/// Contact.
pub(crate) const CONTACT: u32 = 3;
/// Company.
pub(crate) const COMPANY: u32 = 4;

fn field_error(code: &str, msg: String) -> MethodError {
    (ErrorCode::Other(code.to_owned()), msg)
}

impl Portal {
    /// The statuses of every kind, as `crm.status.list` gives them.
    fn statuses(&self) -> Vec<Value> {
        let mut out = vec![];
        let mut row = |entity: &str, category: Option<u64>, status: String, s: &Stage, sort| {
            let semantics = s.2;
            out.push(json!({
                "ID": (out.len() + 1).to_string(), "ENTITY_ID": entity, "STATUS_ID": status,
                "NAME": s.1, "NAME_INIT": s.1, "SORT": sort, "SYSTEM": "Y",
                "CATEGORY_ID": category.map(|c| c.to_string()), "SEMANTICS": semantics,
                "EXTRA": {"SEMANTICS": match semantics {
                    Some("S") => "success", Some(_) => "failure", None => "process" }},
            }));
        };
        for (i, s) in LEAD_STATUSES.iter().enumerate() {
            row("STATUS", None, s.0.to_owned(), s, (i + 1) * 10);
        }
        for (category, _) in &self.categories {
            for (i, s) in DEAL_STAGES.iter().enumerate() {
                let entity = deal_stage_entity(*category);
                row(&entity, Some(*category), deal_stage_id(*category, s.0), s, (i + 1) * 10);
            }
        }
        out
    }

    /// The semantics (`P` in progress, `S` success, `F` failure) of a lead status or deal stage,
    /// `None` when the pipeline has no such stage.
    fn semantics_of(&self, entity_type: u32, category: u64, status: &str) -> Option<&'static str> {
        let stages = match entity_type {
            LEAD => LEAD_STATUSES.iter().map(|s| (s.0.to_owned(), s.2)).collect::<Vec<_>>(),
            _ => DEAL_STAGES.iter().map(|s| (deal_stage_id(category, s.0), s.2)).collect(),
        };
        stages.into_iter().find(|(id, _)| id == status).map(|(_, sem)| sem.unwrap_or("P"))
    }

    /// `crm.category.list` (RD `crm/universal/category/crm-category-list.md`): deals have
    /// pipelines (the default one is id 0, `isDefault` `Y`); leads and contacts none
    /// (`ENTITY_TYPE_NOT_SUPPORTED`), an unknown type `NOT_FOUND`.
    pub(crate) fn crm_category_list(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let et = p
            .get("entityTypeId")
            .and_then(Id::from_value)
            .ok_or_else(|| field_error("NOT_FOUND", "Smart process not found".to_owned()))?;
        match et.0 {
            2 => {}
            1 | 3 | 4 => {
                return Err(field_error(
                    "ENTITY_TYPE_NOT_SUPPORTED",
                    format!("Entity type {} is not supported", et.0),
                ));
            }
            _ => return Err((ErrorCode::NotFound, "Smart process not found".to_owned())),
        }
        let categories: Vec<Value> = self
            .categories
            .iter()
            .map(|(id, name)| {
                json!({"id": id, "name": name, "sort": if *id == 0 { 300 } else { 200 },
                       "entityTypeId": 2, "isDefault": if *id == 0 { "Y" } else { "N" }})
            })
            .collect();
        let total = categories.len() as u64;
        Ok(MethodOk { result: json!({ "categories": categories }), total: Some(total), next: None })
    }

    /// `crm.status.list` (RD `crm/status/crm-status-list.md`): every status with `filter`
    /// (`ENTITY_ID`: `STATUS` for lead statuses, `DEAL_STAGE` / `DEAL_STAGE_<id>` for a
    /// pipeline's stages) and `order`; `SEMANTICS` `S` / `F` marks the closing ones.
    pub(crate) fn crm_status_list(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let filter = p.get("filter").and_then(Value::as_object).cloned().unwrap_or_default();
        let rows: Vec<Value> = self
            .statuses()
            .into_iter()
            .filter(|s| crate::portal::matches_filter(s, &filter))
            .collect();
        let total = rows.len() as u64;
        Ok(MethodOk { result: Value::Array(rows), total: Some(total), next: None })
    }

    /// Checks and completes the fields of a new item (RD `crm/universal/crm-item-add.md`):
    /// the responsible must be a user, a lead's status and a deal's pipeline and stage must
    /// exist (a deal gets the default pipeline and its first stage), a linked contact must
    /// exist, each multifield (`fm`) needs a known `typeId` and a `value`. `stageSemanticId` and
    /// `closed` follow the stage.
    pub(crate) fn check_item_fields(
        &self,
        entity_type: u32,
        fields: &mut Map<String, Value>,
        existing: Option<&Map<String, Value>>,
    ) -> Result<(), MethodError> {
        let invalid = |name: &str| {
            field_error(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                format!("The field \"{name}\" has an invalid value"),
            )
        };
        if let Some(v) = fields.get("assignedById") {
            let user = Id::from_value(v).ok_or_else(|| invalid("assignedById"))?;
            if !self.users.contains_key(&user.0) {
                return Err(invalid("assignedById"));
            }
        }
        for key in ["contactId", "companyId"] {
            if let Some(v) = fields.get(key).filter(|v| !v.is_null()) {
                let id = Id::from_value(v).ok_or_else(|| invalid(key))?;
                let et = if key == "contactId" { CONTACT } else { COMPANY };
                if id.0 != 0 && !self.crm.get(&et).is_some_and(|s| s.contains_key(&id.0)) {
                    return Err(invalid(key));
                }
            }
        }
        if let Some(fm) = fields.get("fm") {
            let ok = fm.as_array().is_some_and(|a| {
                a.iter().all(|f| {
                    let kind = f.get("typeId").and_then(Value::as_str).unwrap_or("");
                    let value = f.get("value").and_then(Value::as_str).unwrap_or("");
                    ["PHONE", "EMAIL", "WEB", "IM", "LINK"].contains(&kind) && !value.is_empty()
                })
            });
            if !ok {
                return Err(invalid("fm"));
            }
        }
        let get = |k: &str| fields.get(k).or_else(|| existing.and_then(|e| e.get(k))).cloned();
        match entity_type {
            DEAL => {
                let category = match get("categoryId") {
                    None | Some(Value::Null) => 0,
                    Some(v) => Id::from_value(&v).ok_or_else(|| invalid("categoryId"))?.0,
                };
                if !self.categories.iter().any(|(id, _)| *id == category) {
                    return Err(field_error(
                        "CRM_FIELD_ERROR_CATEGORY_NOT_AVAILABLE",
                        format!("The pipeline {category} is not available"),
                    ));
                }
                let stage = match get("stageId") {
                    Some(Value::String(s)) if !s.is_empty() => s,
                    _ => deal_stage_id(category, DEAL_STAGES[0].0),
                };
                let sem =
                    self.semantics_of(DEAL, category, &stage).ok_or_else(|| invalid("stageId"))?;
                fields.insert("categoryId".to_owned(), json!(category));
                fields.insert("stageId".to_owned(), json!(stage));
                fields.insert("stageSemanticId".to_owned(), json!(sem));
                fields.insert("closed".to_owned(), json!(if sem == "P" { "N" } else { "Y" }));
            }
            LEAD => {
                let status = match get("statusId") {
                    Some(Value::String(s)) if !s.is_empty() => s,
                    _ => LEAD_STATUSES[0].0.to_owned(),
                };
                let sem = self.semantics_of(LEAD, 0, &status).ok_or_else(|| invalid("statusId"))?;
                fields.insert("statusId".to_owned(), json!(status));
                fields.insert("stageSemanticId".to_owned(), json!(sem));
            }
            CONTACT if existing.is_none() => {
                let empty =
                    |k: &str| fields.get(k).and_then(Value::as_str).is_none_or(str::is_empty);
                if empty("name") && empty("lastName") {
                    fields.insert("name".to_owned(), json!("Untitled"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `crm.timeline.logmessage.add` (RD `crm/timeline/logmessage/crm-timeline-logmessage-add.md`):
    /// every field is required (`100`), the item must exist (`OWNER_NOT_FOUND`); answers
    /// `{"logMessage": {...}}`.
    pub(crate) fn logmessage_add(
        &mut self,
        p: &Value,
        user: u64,
        now: i64,
    ) -> Result<MethodOk, MethodError> {
        let f = p.get("fields").and_then(Value::as_object).ok_or_else(|| {
            field_error("100", "Could not find value for parameter {fields}".to_owned())
        })?;
        for k in ["entityTypeId", "entityId", "title", "text", "iconCode"] {
            let present = f.get(k).is_some_and(|v| match v {
                Value::String(s) => !s.is_empty(),
                Value::Number(_) => true,
                _ => false,
            });
            if !present {
                return Err(field_error(
                    "100",
                    format!("Could not find value for parameter {{{k}}}"),
                ));
            }
        }
        let et = f.get("entityTypeId").and_then(Id::from_value).map_or(0, |i| i.0);
        let eid = f.get("entityId").and_then(Id::from_value).map_or(0, |i| i.0);
        let exists = u32::try_from(et)
            .ok()
            .and_then(|et| self.crm.get(&et))
            .is_some_and(|s| s.contains_key(&eid));
        if !exists {
            return Err(field_error("OWNER_NOT_FOUND", "Owner not found".to_owned()));
        }
        let id = self.id();
        let created = iso8601(now);
        let entry = json!({
            "id": id, "created": created, "authorId": user,
            "title": f.get("title"), "text": f.get("text"), "iconCode": f.get("iconCode"),
            "entityTypeId": et, "entityId": eid,
        });
        self.log_messages.insert(id, entry.clone());
        Ok(MethodOk::plain(json!({ "logMessage": public_entry(&entry) })))
    }

    /// `crm.timeline.logmessage.get` (RD `.../crm-timeline-logmessage-get.md`).
    pub(crate) fn logmessage_get(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let id = p
            .get("id")
            .and_then(Id::from_value)
            .ok_or_else(|| field_error("100", "Could not find value for parameter {id}".into()))?;
        self.log_messages
            .get(&id.0)
            .map(|e| MethodOk::plain(json!({ "logMessage": public_entry(e) })))
            .ok_or((ErrorCode::NotFound, "Not found".to_owned()))
    }

    /// `crm.timeline.logmessage.list` (RD `.../crm-timeline-logmessage-list.md`): an item's
    /// entries, newest first unless `order` says `asc`, pages of 10.
    pub(crate) fn logmessage_list(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let need = |k: &str| {
            p.get(k).and_then(Id::from_value).ok_or_else(|| {
                field_error("100", format!("Could not find value for parameter {{{k}}}"))
            })
        };
        let (et, eid) = (need("entityTypeId")?.0, need("entityId")?.0);
        let asc = p
            .get("order")
            .and_then(Value::as_object)
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .is_some_and(|d| d.eq_ignore_ascii_case("asc"));
        let mut rows: Vec<&Value> = self
            .log_messages
            .values()
            .filter(|e| e["entityTypeId"] == json!(et) && e["entityId"] == json!(eid))
            .collect();
        if !asc {
            rows.reverse();
        }
        let start = p.get("start").and_then(Id::from_value).map_or(0, |s| s.0);
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let total = rows.len();
        let page: Vec<Value> = rows.into_iter().skip(start).take(10).map(public_entry).collect();
        let next = (start.saturating_add(10) < total).then_some((start + 10) as u64);
        Ok(MethodOk { result: Value::Array(page), total: Some(total as u64), next })
    }
}

/// A log entry as the methods show it (without the item it belongs to).
fn public_entry(e: &Value) -> Value {
    let mut out = e.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove("entityTypeId");
        o.remove("entityId");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::portal::{AppView, PortalSpec};

    fn portal() -> Portal {
        Portal::new(&PortalSpec::new("m", "m.test"), "token".to_owned())
    }

    fn call(p: &mut Portal, method: &str, params: Value) -> Result<Value, (String, String)> {
        let app = AppView { client_id: "app".to_owned(), now: 1_767_225_600 };
        p.dispatch(method, &params, 1, false, &app)
            .map(|ok| ok.result)
            .map_err(|(code, d)| (code.as_str().to_owned(), d))
    }

    // RD crm/universal/category/crm-category-list.md, crm/status/crm-status-list.md.
    #[test]
    fn pipelines_and_stages() {
        let mut p = portal();
        let cats = call(&mut p, "crm.category.list", json!({"entityTypeId": 2})).unwrap();
        assert_eq!(cats["categories"][0]["id"], 0);
        assert_eq!(cats["categories"][0]["isDefault"], "Y");
        assert_eq!(cats["categories"][1]["id"], 1);
        let lead = call(&mut p, "crm.category.list", json!({"entityTypeId": 1})).unwrap_err();
        assert_eq!(lead.0, "ENTITY_TYPE_NOT_SUPPORTED");
        let none = call(&mut p, "crm.category.list", json!({"entityTypeId": 99})).unwrap_err();
        assert_eq!(none.0, "NOT_FOUND");
        let stages =
            call(&mut p, "crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE_1"}}))
                .unwrap();
        let ids: Vec<&str> =
            stages.as_array().unwrap().iter().map(|s| s["STATUS_ID"].as_str().unwrap()).collect();
        assert_eq!(ids, ["C1:NEW", "C1:PREPARATION", "C1:EXECUTING", "C1:WON", "C1:LOSE"]);
        assert_eq!(stages[3]["SEMANTICS"], "S");
        assert_eq!(stages[4]["SEMANTICS"], "F");
        assert!(stages[0]["SEMANTICS"].is_null());
        let leads = call(&mut p, "crm.status.list", json!({"filter": {"ENTITY_ID": "STATUS"}}));
        assert_eq!(leads.unwrap().as_array().unwrap().len(), LEAD_STATUSES.len());
    }

    // RD crm/universal/crm-item-add.md; the field checks' codes.
    #[test]
    fn items_are_checked_and_get_their_stage_semantics() {
        let mut p = portal();
        let add = |p: &mut Portal, et: u32, fields: Value| {
            call(p, "crm.item.add", json!({"entityTypeId": et, "fields": fields}))
        };
        let contact = add(&mut p, CONTACT, json!({})).unwrap();
        assert_eq!(contact["item"]["name"], "Untitled");
        let bad_fm = add(&mut p, CONTACT, json!({"fm": [{"typeId": "PHONE"}]})).unwrap_err();
        assert_eq!(bad_fm.0, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
        let nobody = add(&mut p, CONTACT, json!({"assignedById": 99})).unwrap_err();
        assert_eq!(nobody.0, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
        let deal = add(&mut p, DEAL, json!({"title": "d"})).unwrap();
        assert_eq!(deal["item"]["categoryId"], 0);
        assert_eq!(deal["item"]["stageId"], "NEW");
        assert_eq!(deal["item"]["closed"], "N");
        let cat = add(&mut p, DEAL, json!({"categoryId": 7})).unwrap_err();
        assert_eq!(cat.0, "CRM_FIELD_ERROR_CATEGORY_NOT_AVAILABLE");
        let stage = add(&mut p, DEAL, json!({"categoryId": 1, "stageId": "WON"})).unwrap_err();
        assert_eq!(stage.0, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
        let won = add(&mut p, DEAL, json!({"categoryId": 1, "stageId": "C1:WON"})).unwrap();
        assert_eq!(
            (won["item"]["stageSemanticId"].clone(), won["item"]["closed"].clone()),
            (json!("S"), json!("Y"))
        );
        let id = deal["item"]["id"].clone();
        let lost = call(
            &mut p,
            "crm.item.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"stageId": "LOSE"}}),
        )
        .unwrap();
        assert_eq!(lost["item"]["stageSemanticId"], "F");
        let ghost = add(&mut p, LEAD, json!({"contactId": 9999})).unwrap_err();
        assert_eq!(ghost.0, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
        let lead = add(&mut p, LEAD, json!({"originatorId": "x", "originId": "c:1"})).unwrap();
        assert_eq!(lead["item"]["statusId"], "NEW");
        let found = call(
            &mut p,
            "crm.item.list",
            json!({"entityTypeId": 1, "filter": {"originatorId": "x", "originId": "c:1"}}),
        )
        .unwrap();
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
    }

    // RD crm/timeline/logmessage/crm-timeline-logmessage-add.md, -get.md, -list.md.
    #[test]
    fn log_messages() {
        let mut p = portal();
        let c = call(&mut p, "crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "A"}}))
            .unwrap()["item"]["id"]
            .clone();
        let entry = |n: usize| json!({"fields": {"entityTypeId": 3, "entityId": c, "title": format!("t{n}"), "text": "x", "iconCode": "info"}});
        let missing = call(
            &mut p,
            "crm.timeline.logmessage.add",
            json!({"fields": {"entityTypeId": 3, "entityId": c, "title": "t", "text": "x"}}),
        )
        .unwrap_err();
        assert_eq!(missing.0, "100");
        let owner = call(
            &mut p,
            "crm.timeline.logmessage.add",
            json!({"fields": {"entityTypeId": 1, "entityId": 5, "title": "t", "text": "x", "iconCode": "info"}}),
        )
        .unwrap_err();
        assert_eq!(owner.0, "OWNER_NOT_FOUND");
        let mut ids = vec![];
        for n in 0..12 {
            let added = call(&mut p, "crm.timeline.logmessage.add", entry(n)).unwrap();
            assert_eq!(added["logMessage"]["title"], format!("t{n}"));
            assert_eq!(added["logMessage"]["created"], "2026-01-01T00:00:00+00:00");
            ids.push(added["logMessage"]["id"].clone());
        }
        let got = call(&mut p, "crm.timeline.logmessage.get", json!({"id": ids[0]})).unwrap();
        assert_eq!(got["logMessage"]["title"], "t0");
        let app = AppView { client_id: "app".to_owned(), now: 0 };
        let page = p
            .dispatch(
                "crm.timeline.logmessage.list",
                &json!({"entityTypeId": 3, "entityId": c}),
                1,
                false,
                &app,
            )
            .unwrap();
        assert_eq!(page.result.as_array().unwrap().len(), 10);
        assert_eq!(page.result[0]["title"], "t11", "newest first");
        assert_eq!((page.total, page.next), (Some(12), Some(10)));
        let none = call(&mut p, "crm.timeline.logmessage.list", json!({"entityTypeId": 3}));
        assert_eq!(none.unwrap_err().0, "100");
    }
}
