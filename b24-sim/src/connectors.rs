//! The portal's Open Lines connectors as an application sees them outside messaging:
//! `imconnector.list` with the built-in connectors, and `imconnector.chat.name.set`.

use b24_client::{ErrorCode, quirks::flex_bool};
use serde_json::{Value, json};

use crate::portal::{MethodError, Portal, str_arg};

/// The connectors every portal has, id and name, as `imconnector.list` answers them (RD
/// `api-reference/imopenlines/imconnector/imconnector-list.md`, the full list of the page
/// before commit 168bb675 shortened its example).
pub(crate) const BUILTIN_CONNECTORS: &[(&str, &str)] = &[
    ("livechat", "Live chat"),
    ("whatsappbytwilio", "WhatsApp"),
    ("avito", "Avito"),
    ("viber", "Viber"),
    ("telegrambot", "Telegram"),
    ("imessage", "Apple Messages for Business"),
    ("vkgroup", "VK"),
    ("ok", "Odnoklassniki"),
    ("facebook", "Facebook: Messages"),
    ("facebookcomments", "Facebook: Comments"),
    ("fbinstagramdirect", "Instagram Direct"),
    ("network", "Bitrix24.Network"),
    ("notifications", "Bitrix24 SMS and WhatsApp"),
    ("whatsappbyedna", "Edna.ru WhatsApp"),
];

/// Longest chat name kept (the simulator's bound).
const MAX_CHAT_NAME: usize = 255;

impl Portal {
    /// `imconnector.list`: the built-in connectors, then the ones applications registered.
    pub(crate) fn connector_list(&self) -> Value {
        let mut out: serde_json::Map<String, Value> =
            BUILTIN_CONNECTORS.iter().map(|(id, name)| ((*id).to_owned(), json!(name))).collect();
        for (id, params) in &self.connectors {
            out.insert(id.clone(), params.get("NAME").cloned().unwrap_or(Value::Null));
        }
        Value::Object(out)
    }

    /// `imconnector.chat.name.set` (RD `imconnector/imconnector-chat-name-set.md`): `CONNECTOR`,
    /// `LINE`, `CHAT_ID`, `NAME` required, `USER_ID` too unless the connector registered with
    /// `CHAT_GROUP`; the line must be active and the connector registered; a chat that no
    /// message opened cannot be renamed (`CHAT_RENAMING_FAILED`).
    pub(crate) fn chat_name_set(&mut self, p: &Value) -> Result<Value, MethodError> {
        let missing = |k: &str| (ErrorCode::Argument, format!("{k} is required"));
        for k in ["CONNECTOR", "LINE", "CHAT_ID", "NAME"] {
            str_arg(p, k).ok_or_else(|| missing(k))?;
        }
        let (connector, line) = self.connector_line(p)?;
        let group = self
            .connectors
            .get(&connector)
            .and_then(|c| c.get("CHAT_GROUP"))
            .and_then(flex_bool)
            .unwrap_or(false);
        let user = str_arg(p, "USER_ID");
        if !group && user.is_none() {
            return Err(missing("USER_ID"));
        }
        let chat = str_arg(p, "CHAT_ID").unwrap_or_default();
        // The open line's chat is keyed like the messages key it: by the external chat in group
        // mode, by the external user otherwise.
        let dialog = if group { chat.clone() } else { user.clone().unwrap_or_default() };
        if !self.center.chats.contains_key(&(connector.clone(), line, dialog)) {
            return Err((
                ErrorCode::Other("CHAT_RENAMING_FAILED".to_owned()),
                "Failed to rename the chat".to_owned(),
            ));
        }
        let name: String =
            str_arg(p, "NAME").unwrap_or_default().chars().take(MAX_CHAT_NAME).collect();
        self.chat_names.insert(
            (connector, line, chat, if group { String::new() } else { user.unwrap_or_default() }),
            name,
        );
        Ok(json!({"SUCCESS": true, "DATA": {"RESULT": {}}}))
    }

    /// The chat names set through `imconnector.chat.name.set`, for [`crate::Sim::inspect`].
    pub(crate) fn chat_names_view(&self) -> Value {
        Value::Array(
            self.chat_names
                .iter()
                .map(|((connector, line, chat, user), name)| {
                    json!({"connector": connector, "line": line, "chat_id": chat, "user_id": user, "name": name})
                })
                .collect(),
        )
    }
}
