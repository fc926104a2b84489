//! The contact center as a person sees it in the shell page (`/p/<domain>/center`, framed by
//! `/p/<domain>/`): the open sessions with their line, customer and operator, their messages,
//! and a reply box that posts to `/_sim/center/reply` as the session's operator. Plain HTML,
//! every value escaped, no script, no external asset; `?lang=ru` for Russian.

use crate::{
    contact_center::MessageAuthor,
    portal::Portal,
    reply::{Reply, reply},
    shell::esc,
    sim::Sim,
};

/// The page's words in English and Russian.
struct Words {
    title: &'static str,
    empty: &'static str,
    line: &'static str,
    operator: &'static str,
    nobody: &'static str,
    send: &'static str,
    close: &'static str,
    refresh: &'static str,
    deleted: &'static str,
}

const EN: Words = Words {
    title: "Contact Center",
    empty: "No open dialogs. A customer's message opens one.",
    line: "Line",
    operator: "Operator",
    nobody: "waiting for an operator",
    send: "Send",
    close: "Close dialog",
    refresh: "Refresh",
    deleted: "(deleted)",
};

const RU: Words = Words {
    title: "Контакт-центр",
    empty: "Открытых диалогов нет. Диалог откроет сообщение клиента.",
    line: "Линия",
    operator: "Оператор",
    nobody: "ждёт оператора",
    send: "Отправить",
    close: "Закрыть диалог",
    refresh: "Обновить",
    deleted: "(удалено)",
};

/// Bitrix24's simplest BB-code tags as HTML, in text already escaped (the tags have no
/// attributes, so nothing from the text can reach an attribute).
fn bb_code(escaped: &str) -> String {
    [("[b]", "<b>"), ("[/b]", "</b>"), ("[i]", "<i>"), ("[/i]", "</i>"), ("[br]", "<br>")]
        .iter()
        .fold(escaped.to_owned(), |t, (bb, html)| t.replace(bb, html))
}

/// The open sessions of a portal as HTML sections.
fn dialogs(p: &Portal, member_id: &str, back: &str, w: &Words) -> String {
    let mut out = String::new();
    for s in p.center.sessions.values().filter(|s| !s.closed) {
        let customer = p
            .center
            .customers
            .values()
            .find(|c| c.user_id == s.customer)
            .map_or_else(|| s.external_user_id.clone(), |c| c.display_name());
        let line = p.line_setting(s.line, "LINE_NAME").unwrap_or_else(|| s.line.to_string());
        let operator =
            s.operator.and_then(|o| p.user_name(o)).unwrap_or_else(|| w.nobody.to_owned());
        let mut messages = String::new();
        for m in p.center.messages.values().filter(|m| m.chat_id == s.chat_id) {
            let who = match m.author {
                MessageAuthor::Customer(_) => customer.clone(),
                MessageAuthor::Operator(u) => p.user_name(u).unwrap_or_else(|| u.to_string()),
            };
            // The signature names the operator already shown in front.
            let text = m.text.strip_prefix(&format!("[b]{who}:[/b] [br]")).unwrap_or(&m.text);
            let files: String = m
                .files
                .iter()
                .filter_map(|f| f.get("name").and_then(serde_json::Value::as_str))
                .map(|n| format!(" [{}]", esc(n)))
                .collect();
            let gone = if m.deleted { format!(" <i>{}</i>", w.deleted) } else { String::new() };
            messages.push_str(&format!(
                "<p class=\"{class}\"><b>{who}:</b> {text}{files}{gone}</p>\n",
                class = if matches!(m.author, MessageAuthor::Customer(_)) { "in" } else { "out" },
                who = esc(&who),
                text = bb_code(&esc(text)),
            ));
        }
        out.push_str(&format!(
            "<section><h2>{customer} &middot; {line_word} {line} &middot; {op_word}: {operator}</h2>\n{messages}\
<form method=\"post\" action=\"/_sim/center/reply\">{hidden}<input name=\"text\" required autocomplete=\"off\"> \
<button>{send}</button></form>\n\
<form method=\"post\" action=\"/_sim/center/close\">{hidden}<button>{close}</button></form></section>\n",
            customer = esc(&customer),
            line_word = w.line,
            line = esc(&line),
            op_word = w.operator,
            operator = esc(&operator),
            hidden = format!(
                "<input type=\"hidden\" name=\"member_id\" value=\"{}\"><input type=\"hidden\" name=\"session_id\" value=\"{}\">\
<input type=\"hidden\" name=\"back\" value=\"{}\">",
                esc(member_id),
                s.id,
                esc(back)
            ),
            send = w.send,
            close = w.close,
        ));
    }
    if out.is_empty() {
        out = format!("<p>{}</p>\n", w.empty);
    }
    out
}

impl Sim {
    /// `/p/<domain>/center`.
    pub(crate) fn center_page(&self, domain: &str, lang: Option<&str>) -> Reply {
        let w = if lang == Some("ru") { &RU } else { &EN };
        let back =
            format!("/p/{domain}/center{}", if lang == Some("ru") { "?lang=ru" } else { "" });
        let body = {
            let st = self.state();
            let Some(p) = st.domains.get(domain).and_then(|m| st.portals.get(m)) else {
                return reply(
                    404,
                    "text/html; charset=utf-8",
                    b"<!doctype html><p>No such portal.</p>".to_vec(),
                );
            };
            dialogs(p, &p.member_id, &back, w)
        };
        let html = format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\n\
<style>body{{font-family:sans-serif;margin:8px;font-size:14px}}h1{{font-size:16px}}h2{{font-size:14px;margin:0 0 4px}}\
section{{background:#fff;border:1px solid #d5dde0;border-radius:4px;padding:8px;margin-bottom:8px}}\
p{{margin:2px 0}}p.out{{color:#1f6f8b}}form{{display:inline}}input[name=text]{{width:60%}}</style></head>\n\
<body><h1>{title} <a href=\"{back}\">{refresh}</a></h1>\n{body}</body></html>\n",
            title = w.title,
            back = esc(&back),
            refresh = w.refresh,
        );
        reply(200, "text/html; charset=utf-8", html.into_bytes())
    }
}
