//! Typed services for the methods the product uses. Each is a thin call; the doc names the
//! method. Results keep Bitrix24's shapes, read with the tolerant helpers of [`crate::quirks`].

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    client::Portal,
    error::{Error, Result},
    quirks::{Id, de_flex, flex_bool},
};

/// A user (`user.current`, `user.get`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// `ID`.
    #[serde(rename = "ID")]
    pub id: Id,
    /// `NAME`.
    #[serde(rename = "NAME", default, deserialize_with = "de_flex::string")]
    pub name: String,
    /// `LAST_NAME`.
    #[serde(rename = "LAST_NAME", default, deserialize_with = "de_flex::string")]
    pub last_name: String,
    /// `EMAIL`.
    #[serde(rename = "EMAIL", default, deserialize_with = "de_flex::string")]
    pub email: String,
    /// `ACTIVE`.
    #[serde(rename = "ACTIVE", default, deserialize_with = "de_flex::bool")]
    pub active: bool,
    /// `UF_DEPARTMENT`.
    #[serde(rename = "UF_DEPARTMENT", default, deserialize_with = "de_flex::ids")]
    pub departments: Vec<Id>,
    /// `PERSONAL_PHOTO`: the photo's URL, empty when none.
    #[serde(rename = "PERSONAL_PHOTO", default, deserialize_with = "de_flex::string")]
    pub personal_photo: String,
}

/// A department (`department.get`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Department {
    /// `ID`.
    #[serde(rename = "ID")]
    pub id: Id,
    /// `NAME`.
    #[serde(rename = "NAME", default, deserialize_with = "de_flex::string")]
    pub name: String,
    /// `PARENT`.
    #[serde(rename = "PARENT", default, deserialize_with = "de_flex::opt_id")]
    pub parent: Option<Id>,
    /// `UF_HEAD`.
    #[serde(rename = "UF_HEAD", default, deserialize_with = "de_flex::opt_id")]
    pub head: Option<Id>,
}

/// The portal's `app.info` about this application.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppInfo {
    /// `ID`.
    #[serde(rename = "ID", default, deserialize_with = "de_flex::opt_id")]
    pub id: Option<Id>,
    /// `CODE`.
    #[serde(rename = "CODE", default, deserialize_with = "de_flex::string")]
    pub code: String,
    /// `VERSION`.
    #[serde(rename = "VERSION", default, deserialize_with = "de_flex::string")]
    pub version: String,
    /// `STATUS` (`L`, `F`, `D`, `T`, `P`).
    #[serde(rename = "STATUS", default, deserialize_with = "de_flex::string")]
    pub status: String,
    /// `INSTALLED`: false until `BX24.installFinish()`.
    #[serde(rename = "INSTALLED", default, deserialize_with = "de_flex::bool")]
    pub installed: bool,
    /// `PAYMENT_EXPIRED`.
    #[serde(rename = "PAYMENT_EXPIRED", default, deserialize_with = "de_flex::bool")]
    pub payment_expired: bool,
    /// `LICENSE`.
    #[serde(rename = "LICENSE", default, deserialize_with = "de_flex::string")]
    pub license: String,
}

/// Matches of `crm.duplicate.findbycomm` (an empty result may come as `[]`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct DuplicateMatches {
    /// Lead ids.
    #[serde(rename = "LEAD", default, deserialize_with = "de_flex::ids")]
    pub leads: Vec<Id>,
    /// Contact ids.
    #[serde(rename = "CONTACT", default, deserialize_with = "de_flex::ids")]
    pub contacts: Vec<Id>,
    /// Company ids.
    #[serde(rename = "COMPANY", default, deserialize_with = "de_flex::ids")]
    pub companies: Vec<Id>,
}

fn id_of(v: &Value, what: &'static str) -> Result<Id> {
    Id::from_value(v).ok_or_else(|| Error::Decode { what, message: format!("not an id: {v}") })
}

fn ok_true(v: &Value, what: &'static str) -> Result<()> {
    // Some methods say no with HTTP 200: {"result": false} or {"result": {"result": false, "error": ...}}.
    let inner = v.get("result").unwrap_or(v);
    if flex_bool(inner) == Some(true) {
        return Ok(());
    }
    let code = v.get("error").and_then(Value::as_str).unwrap_or("RESULT_FALSE");
    let code = crate::error::ErrorCode::parse(code);
    Err(Error::Api {
        description: v.get("error_description").and_then(Value::as_str).unwrap_or(what).to_owned(),
        status: 200,
        code,
    })
}

impl Portal {
    /// `user.current`: the user whose token the portal holds.
    pub async fn user_current(&self) -> Result<User> {
        self.call_as("user.current", json!({})).await
    }

    /// `user.get` with a filter (first page; use [`Portal::list`] for all).
    pub async fn user_get(&self, filter: Value) -> Result<Vec<User>> {
        self.call_as("user.get", json!({ "FILTER": filter })).await
    }

    /// `user.admin`: whether the token's user may manage the application.
    pub async fn user_admin(&self) -> Result<bool> {
        let env = self.call("user.admin", json!({})).await?;
        Ok(flex_bool(&env.result).unwrap_or(false))
    }

    /// `department.get` with a filter (`ID`, `NAME`, `PARENT`, `UF_HEAD`).
    pub async fn department_get(&self, filter: Value) -> Result<Vec<Department>> {
        self.call_as("department.get", filter).await
    }

    /// `app.info` on the portal.
    pub async fn app_info(&self) -> Result<AppInfo> {
        self.call_as("app.info", json!({})).await
    }

    /// `event.bind`: binds `handler` to `event` (online).
    pub async fn event_bind(&self, event: &str, handler: &str) -> Result<()> {
        let env = self.call("event.bind", json!({ "event": event, "handler": handler })).await?;
        ok_true(&env.result, "event.bind")
    }

    /// `event.get`: the handlers bound by this application.
    pub async fn event_get(&self) -> Result<Vec<Value>> {
        self.call_as("event.get", json!({})).await
    }

    /// `placement.bind`: binds a handler to a placement (admin only).
    pub async fn placement_bind(&self, placement: &str, handler: &str, title: &str) -> Result<()> {
        let env = self
            .call(
                "placement.bind",
                json!({ "PLACEMENT": placement, "HANDLER": handler, "TITLE": title }),
            )
            .await?;
        ok_true(&env.result, "placement.bind")
    }

    /// `placement.get`: the placements bound by this application.
    pub async fn placement_get(&self) -> Result<Vec<Value>> {
        self.call_as("placement.get", json!({})).await
    }

    /// `imconnector.register`: registers (or updates) a connector. `params` carries `ID`, `NAME`,
    /// `ICON`, `PLACEMENT_HANDLER` and flags; a 200 with `result:false` becomes an error.
    pub async fn imconnector_register(&self, params: Value) -> Result<()> {
        let env = self.call("imconnector.register", params).await?;
        ok_true(&env.result, "imconnector.register")
    }

    /// `imconnector.unregister`.
    pub async fn imconnector_unregister(&self, id: &str) -> Result<()> {
        let env = self.call("imconnector.unregister", json!({ "ID": id })).await?;
        ok_true(&env.result, "imconnector.unregister")
    }

    /// `imconnector.activate`: switches the connector on (`true`) or off on a line.
    pub async fn imconnector_activate(
        &self,
        connector: &str,
        line: Id,
        active: bool,
    ) -> Result<()> {
        let env = self
            .call(
                "imconnector.activate",
                json!({ "CONNECTOR": connector, "LINE": line, "ACTIVE": u8::from(active) }),
            )
            .await?;
        ok_true(&env.result, "imconnector.activate")
    }

    /// `imconnector.status`: `{LINE, CONNECTOR, ERROR, CONFIGURED, STATUS}`.
    pub async fn imconnector_status(&self, connector: &str, line: Id) -> Result<Value> {
        Ok(self
            .call("imconnector.status", json!({ "CONNECTOR": connector, "LINE": line }))
            .await?
            .result)
    }

    /// `imconnector.connector.data.set`: `DATA` `{ID, URL, URL_IM, NAME}` (overwritten whole).
    pub async fn imconnector_data_set(&self, connector: &str, line: Id, data: Value) -> Result<()> {
        let env = self
            .call(
                "imconnector.connector.data.set",
                json!({ "CONNECTOR": connector, "LINE": line, "DATA": data }),
            )
            .await?;
        ok_true(&env.result, "imconnector.connector.data.set")
    }

    /// `imconnector.list`: connector id → name.
    pub async fn imconnector_list(&self) -> Result<Value> {
        Ok(self.call("imconnector.list", json!({})).await?.result)
    }

    /// `imconnector.send.messages`: customers' messages into the open line. Never retried after
    /// a timeout (it may have been delivered).
    pub async fn imconnector_send_messages(
        &self,
        connector: &str,
        line: Id,
        messages: Value,
    ) -> Result<Value> {
        self.connector_messages("imconnector.send.messages", connector, line, messages).await
    }

    /// `imconnector.update.messages`.
    pub async fn imconnector_update_messages(
        &self,
        connector: &str,
        line: Id,
        messages: Value,
    ) -> Result<Value> {
        self.connector_messages("imconnector.update.messages", connector, line, messages).await
    }

    /// `imconnector.delete.messages`.
    pub async fn imconnector_delete_messages(
        &self,
        connector: &str,
        line: Id,
        messages: Value,
    ) -> Result<Value> {
        self.connector_messages("imconnector.delete.messages", connector, line, messages).await
    }

    /// `imconnector.send.status.delivery`: an operator's message reached WhatsApp.
    pub async fn imconnector_status_delivery(
        &self,
        connector: &str,
        line: Id,
        messages: Value,
    ) -> Result<Value> {
        self.connector_messages("imconnector.send.status.delivery", connector, line, messages).await
    }

    /// `imconnector.send.status.reading`.
    pub async fn imconnector_status_reading(
        &self,
        connector: &str,
        line: Id,
        messages: Value,
    ) -> Result<Value> {
        self.connector_messages("imconnector.send.status.reading", connector, line, messages).await
    }

    /// The shape every `imconnector.*messages` and status method shares.
    async fn connector_messages(
        &self,
        method: &str,
        connector: &str,
        line: Id,
        messages: Value,
    ) -> Result<Value> {
        let params = json!({ "CONNECTOR": connector, "LINE": line, "MESSAGES": messages });
        Ok(self.call(method, params).await?.result)
    }

    /// `imopenlines.config.add`: creates an open line; returns its id.
    pub async fn openlines_config_add(&self, params: Value) -> Result<Id> {
        let env = self.call("imopenlines.config.add", json!({ "PARAMS": params })).await?;
        id_of(&env.result, "imopenlines.config.add result")
    }

    /// `imopenlines.config.get`.
    pub async fn openlines_config_get(&self, id: Id) -> Result<Value> {
        Ok(self.call("imopenlines.config.get", json!({ "CONFIG_ID": id })).await?.result)
    }

    /// `imopenlines.config.list.get`.
    pub async fn openlines_config_list(&self) -> Result<Vec<Value>> {
        self.call_as("imopenlines.config.list.get", json!({})).await
    }

    /// `imopenlines.config.update`.
    pub async fn openlines_config_update(&self, id: Id, params: Value) -> Result<()> {
        let env = self
            .call("imopenlines.config.update", json!({ "CONFIG_ID": id, "PARAMS": params }))
            .await?;
        ok_true(&env.result, "imopenlines.config.update")
    }

    /// `imopenlines.config.delete`.
    pub async fn openlines_config_delete(&self, id: Id) -> Result<()> {
        let env = self.call("imopenlines.config.delete", json!({ "CONFIG_ID": id })).await?;
        ok_true(&env.result, "imopenlines.config.delete")
    }

    /// `crm.duplicate.findbycomm`: CRM entities with these phones (`PHONE`) or e-mails (`EMAIL`),
    /// at most 20 values.
    pub async fn crm_find_by_comm(&self, kind: &str, values: &[&str]) -> Result<DuplicateMatches> {
        let env = self
            .call("crm.duplicate.findbycomm", json!({ "type": kind, "values": values }))
            .await?;
        match env.result {
            Value::Array(a) if a.is_empty() => Ok(DuplicateMatches::default()),
            other => serde_json::from_value(other)
                .map_err(|e| Error::Decode { what: "findbycomm", message: e.to_string() }),
        }
    }

    /// `crm.item.add`: returns the new item (`{"item": {...}}` unwrapped). Not retried after a
    /// timeout.
    pub async fn crm_item_add(&self, entity_type_id: u32, fields: Value) -> Result<Value> {
        let env = self
            .call("crm.item.add", json!({ "entityTypeId": entity_type_id, "fields": fields }))
            .await?;
        env.result
            .get("item")
            .cloned()
            .ok_or(Error::Decode { what: "crm.item.add", message: "no item".to_owned() })
    }

    /// `crm.item.update`.
    pub async fn crm_item_update(
        &self,
        entity_type_id: u32,
        id: Id,
        fields: Value,
    ) -> Result<Value> {
        let env = self
            .call(
                "crm.item.update",
                json!({ "entityTypeId": entity_type_id, "id": id, "fields": fields }),
            )
            .await?;
        env.result
            .get("item")
            .cloned()
            .ok_or(Error::Decode { what: "crm.item.update", message: "no item".to_owned() })
    }

    /// `crm.item.list`: one page of items (use [`Portal::list`] or [`Portal::list_all_fast`] with
    /// `id` for all).
    pub async fn crm_item_list(&self, entity_type_id: u32, filter: Value) -> Result<Vec<Value>> {
        let env = self
            .call("crm.item.list", json!({ "entityTypeId": entity_type_id, "filter": filter }))
            .await?;
        crate::list::page_items(env.result)
    }

    /// `crm.timeline.comment.add` (lower-case `fields`): returns the comment id.
    pub async fn crm_timeline_comment_add(
        &self,
        entity_type: &str,
        entity_id: Id,
        comment: &str,
    ) -> Result<Id> {
        let env = self
            .call(
                "crm.timeline.comment.add",
                json!({ "fields": { "ENTITY_ID": entity_id, "ENTITY_TYPE": entity_type, "COMMENT": comment } }),
            )
            .await?;
        id_of(&env.result, "crm.timeline.comment.add result")
    }

    /// `crm.activity.add`: returns the activity id.
    pub async fn crm_activity_add(&self, fields: Value) -> Result<Id> {
        let env = self.call("crm.activity.add", json!({ "fields": fields })).await?;
        id_of(&env.result, "crm.activity.add result")
    }

    /// `crm.activity.todo.add`: returns the new activity's `{"id": ...}`.
    pub async fn crm_activity_todo_add(&self, params: Value) -> Result<Value> {
        Ok(self.call("crm.activity.todo.add", params).await?.result)
    }

    /// `crm.activity.get`.
    pub async fn crm_activity_get(&self, id: Id) -> Result<Value> {
        Ok(self.call("crm.activity.get", json!({ "id": id })).await?.result)
    }

    /// `crm.activity.list` (first page).
    pub async fn crm_activity_list(&self, filter: Value) -> Result<Vec<Value>> {
        let env = self.call("crm.activity.list", json!({ "filter": filter })).await?;
        crate::list::page_items(env.result)
    }

    /// `crm.activity.update`.
    pub async fn crm_activity_update(&self, id: Id, fields: Value) -> Result<()> {
        let env = self.call("crm.activity.update", json!({ "id": id, "fields": fields })).await?;
        ok_true(&env.result, "crm.activity.update")
    }

    /// `crm.activity.delete`.
    pub async fn crm_activity_delete(&self, id: Id) -> Result<()> {
        let env = self.call("crm.activity.delete", json!({ "id": id })).await?;
        ok_true(&env.result, "crm.activity.delete")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_false_with_200_is_an_error() {
        assert!(ok_true(&json!(true), "x").is_ok());
        assert!(ok_true(&json!({"result": true}), "x").is_ok());
        let e =
            ok_true(&json!({"result": false, "error": "CONNECTOR_ID_REQUIRED"}), "x").unwrap_err();
        assert_eq!(e.code().unwrap().as_str(), "CONNECTOR_ID_REQUIRED");
        let u: User = serde_json::from_value(
            json!({"ID": "3", "NAME": "A", "ACTIVE": true, "UF_DEPARTMENT": [1]}),
        )
        .unwrap();
        assert_eq!((u.id, u.departments.len()), (Id(3), 1));
        let d: DuplicateMatches =
            serde_json::from_value(json!({"CONTACT": [275, "2297"]})).unwrap();
        assert_eq!(d.contacts, [Id(275), Id(2297)]);
    }
}
