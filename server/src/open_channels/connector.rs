//! What identifies wab24 to Bitrix24 as an Open Channels connector: its id, names, icon, the
//! page Bitrix24 opens for its settings, and the events it listens to.

/// The connector's id (`imconnector.register` `ID`: lowercase letters, digits and `_`, no dot;
/// REST docs `api-reference/imopenlines/imconnector/imconnector-register.md`).
pub const CONNECTOR_ID: &str = "wab24_whatsapp";

/// The connector's name in Bitrix24's contact center (one name for every language: Bitrix24
/// shows it as given).
pub const CONNECTOR_NAME: &str = "WhatsApp (wab24)";

/// The path of the `SETTING_CONNECTOR` page Bitrix24 opens inside Open Lines settings
/// (`PLACEMENT_HANDLER`), under the public URL.
pub const SETTINGS_PATH: &str = "/b24/connector";

/// The path connector events are delivered to (the app's events route).
pub const EVENTS_PATH: &str = "/b24/events";

/// The connector events bound at install (REST docs `api-reference/imopenlines/imconnector/events/`).
pub const EVENTS: [&str; 7] = [
    "ONIMCONNECTORMESSAGEADD",
    "ONIMCONNECTORMESSAGEUPDATE",
    "ONIMCONNECTORMESSAGEDELETE",
    "ONIMCONNECTORDIALOGSTART",
    "ONIMCONNECTORDIALOGFINISH",
    "ONIMCONNECTORSTATUSDELETE",
    "ONIMCONNECTORLINEDELETE",
];

/// WhatsApp's green, for the icon's background (`ICON.COLOR`).
const ICON_COLOR: &str = "#25D366";

/// The icon: a white speech bubble with a handset, drawn here (no third-party artwork).
const ICON_SVG: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'>\
<path fill='#fff' d='M32 8a24 24 0 0 0-20.6 36.3L8 56l12-3.2A24 24 0 1 0 32 8zm0 4a20 20 0 1 1-10.3 37.2l-.7-.4-6.9 1.8 1.9-6.7-.5-.8A20 20 0 0 1 32 12z'/>\
<path fill='#fff' d='M24.5 20.5c-.6 0-1.5.2-2.2 1-.8.8-2.8 2.7-2.8 6.6s2.9 7.7 3.3 8.2c.4.5 5.6 8.9 13.8 12.1 6.8 2.7 8.2 2.2 9.7 2 1.5-.1 4.8-2 5.4-3.9.7-1.9.7-3.5.5-3.9-.2-.3-.7-.5-1.5-.9l-5.2-2.5c-.7-.3-1.2-.4-1.7.4l-2.3 2.9c-.4.5-.8.6-1.6.2-.8-.4-3.2-1.2-6.1-3.8-2.3-2-3.8-4.5-4.2-5.3-.4-.8 0-1.2.4-1.6l1.1-1.3c.4-.5.5-.8.8-1.3.3-.5.1-1-.1-1.4l-2.4-5.7c-.6-1.5-1.2-1.3-1.7-1.3h-1.3z'/>\
</svg>";

/// The `ICON` object of `imconnector.register`: `DATA_IMAGE` (an SVG data URI), `COLOR`,
/// `SIZE`, `POSITION`.
pub fn icon() -> serde_json::Value {
    serde_json::json!({
        "DATA_IMAGE": format!("data:image/svg+xml;charset=US-ASCII,{}", percent_encode(ICON_SVG)),
        "COLOR": ICON_COLOR,
        "SIZE": "90%",
        "POSITION": "center",
    })
}

/// Encodes the characters a data URI may not carry as they are.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b' '
            | b'\''
            | b'='
            | b'/'
            | b':'
            | b',' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `imconnector.register` parameters for a server at `public_url`.
pub fn register_params(public_url: &str) -> serde_json::Value {
    serde_json::json!({
        "ID": CONNECTOR_ID,
        "NAME": CONNECTOR_NAME,
        "ICON": icon(),
        "ICON_DISABLED": { "DATA_IMAGE": icon()["DATA_IMAGE"], "COLOR": "#b0b8bf", "SIZE": "90%", "POSITION": "center" },
        "PLACEMENT_HANDLER": format!("{public_url}{SETTINGS_PATH}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_one_bitrix24_accepts() {
        // register: lowercase letters, digits and `_`; a dot is refused
        // (APPLICATION_REGISTRATION_ERROR_POINT).
        assert!(
            CONNECTOR_ID.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }

    #[test]
    fn the_icon_is_an_svg_data_uri_without_raw_specials() {
        let uri = icon()["DATA_IMAGE"].as_str().unwrap().to_owned();
        assert!(uri.starts_with("data:image/svg+xml;charset=US-ASCII,%3Csvg"));
        assert!(!uri.contains(['<', '>', '#', '"']), "{uri}");
        let params = register_params("https://wab24.example");
        assert_eq!(params["PLACEMENT_HANDLER"], "https://wab24.example/b24/connector");
    }
}
