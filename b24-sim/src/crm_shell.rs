//! The portal shell's minimal CRM (`/p/<domain>/crm`): contacts, companies, leads and deals, an
//! item's page with its fields (name, phones, responsible, stage), its timeline and the tabs an
//! application bound to `CRM_<TYPE>_DETAIL_TAB` (RD `api-reference/widgets/crm/detail-tab.md`).
//! Opening a tab POSTs the frame into an iframe as Bitrix24 does: the query `DOMAIN`,
//! `PROTOCOL`, `LANG`, `APP_SID` on the handler's URL, the body `AUTH_ID`, `REFRESH_ID`,
//! `member_id`, `PLACEMENT` and `PLACEMENT_OPTIONS` `{"ID":"<item id>","URI":"..."}`.

use b24_client::Id;
use serde_json::{Map, Value, json};

use crate::{
    portal::Portal,
    reply::{Reply, reply},
    shell::esc,
    sim::Sim,
};

/// A CRM item type the shell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
    /// In the list's order.
    pub(crate) const ALL: [Kind; 4] = [Kind::Contact, Kind::Company, Kind::Lead, Kind::Deal];

    /// The `entityTypeId` (RD `api-reference/crm/data-types.md`, object types).
    pub(crate) fn entity_type_id(self) -> u32 {
        match self {
            Kind::Lead => 1,
            Kind::Deal => 2,
            Kind::Contact => 3,
            Kind::Company => 4,
        }
    }

    /// The path segment and the `ENTITY_TYPE` of timeline comments.
    pub(crate) fn slug(self) -> &'static str {
        match self {
            Kind::Lead => "lead",
            Kind::Deal => "deal",
            Kind::Contact => "contact",
            Kind::Company => "company",
        }
    }

    /// The detail tab's placement code.
    pub(crate) fn placement(self) -> &'static str {
        match self {
            Kind::Lead => "CRM_LEAD_DETAIL_TAB",
            Kind::Deal => "CRM_DEAL_DETAIL_TAB",
            Kind::Contact => "CRM_CONTACT_DETAIL_TAB",
            Kind::Company => "CRM_COMPANY_DETAIL_TAB",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Lead => "Leads",
            Kind::Deal => "Deals",
            Kind::Contact => "Contacts",
            Kind::Company => "Companies",
        }
    }

    /// The kind of a path segment.
    pub(crate) fn from_slug(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.slug() == s)
    }
}

/// A field of an item, as a string.
fn text(item: &Value, key: &str) -> String {
    match item.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// An item's display name: a contact's name and last name, else its title.
pub(crate) fn display_name(kind: Kind, item: &Value) -> String {
    let name = match kind {
        Kind::Contact => format!("{} {}", text(item, "name"), text(item, "lastName")),
        _ => text(item, "title"),
    };
    let name = name.trim().to_owned();
    if name.is_empty() { format!("#{}", text(item, "id")) } else { name }
}

/// The phone numbers in an item's multifields (`fm`, `typeId` `PHONE`).
pub(crate) fn phones(item: &Value) -> Vec<String> {
    item.get("fm")
        .and_then(Value::as_array)
        .map(|fm| {
            fm.iter()
                .filter(|f| {
                    f.get("typeId")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("PHONE"))
                })
                .filter_map(|f| f.get("value").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const STYLE: &str = "body{margin:0;font-family:sans-serif;background:#eef2f4;color:#333}\
header{background:#2fc6f6;color:#fff;padding:8px 16px}header a{color:#fff}\
main{padding:16px}section{background:#fff;border-radius:6px;padding:12px 16px;margin:0 0 16px}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #e5eaec}\
nav.tabs a{display:inline-block;padding:6px 12px;margin-right:4px;border-radius:4px 4px 0 0;background:#dfe6e9;color:#333;text-decoration:none}\
nav.tabs a[aria-current=page]{background:#fff;font-weight:bold}\
iframe{border:0;width:100%;height:max(620px,calc(100vh - 180px));background:#fff}\
ol.timeline li{margin:0 0 8px}ol.timeline time{color:#828b95}\
ol.timeline .text{white-space:pre-wrap}";

fn wrap(domain: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title} - {domain} - Bitrix24 (simulated)</title>\n\
<style>{STYLE}</style></head>\n<body><header><a href=\"/p/{domain}/crm\">CRM</a> &middot; {domain}</header>\n<main>\n{body}</main>\n</body></html>\n",
        domain = esc(domain),
        title = esc(title),
    )
}

/// Keeps the viewer (`user`) and language in links.
fn viewer_query(user: u64, lang: &str) -> String {
    format!("user={user}&lang={}", esc(lang))
}

/// `/p/<domain>/crm`: every contact, company, lead and deal, linked to its page.
pub(crate) fn list_page(portal: &Portal, user: u64, lang: &str) -> String {
    let domain = &portal.domain;
    let mut body = String::new();
    for kind in Kind::ALL {
        let items: Vec<&Value> = portal
            .crm
            .get(&kind.entity_type_id())
            .map(|s| s.values().collect())
            .unwrap_or_default();
        body.push_str(&format!(
            "<section data-kind=\"{slug}\"><h2>{plural}</h2>\n",
            slug = kind.slug(),
            plural = kind.plural()
        ));
        if items.is_empty() {
            body.push_str("<p class=\"empty\">None yet.</p>\n");
        } else {
            body.push_str(
                "<table><tr><th>Name</th><th>Phones</th><th>Responsible</th><th>Stage</th></tr>\n",
            );
            for item in items {
                let id = text(item, "id");
                body.push_str(&format!(
                    "<tr><td><a href=\"/p/{domain}/crm/{slug}/{id}?{q}\">{name}</a></td><td>{phones}</td><td>{resp}</td><td>{stage}</td></tr>\n",
                    domain = esc(domain),
                    slug = kind.slug(),
                    id = esc(&id),
                    q = viewer_query(user, lang),
                    name = esc(&display_name(kind, item)),
                    phones = esc(&phones(item).join(", ")),
                    resp = esc(&responsible(portal, item)),
                    stage = esc(&stage(item)),
                ));
            }
            body.push_str("</table>\n");
        }
        body.push_str("</section>\n");
    }
    wrap(domain, "CRM", &body)
}

fn responsible(portal: &Portal, item: &Value) -> String {
    let Some(id) = item.get("assignedById").and_then(Id::from_value) else { return String::new() };
    portal
        .users
        .get(&id.0)
        .map(|u| format!("{} {}", text(u, "NAME"), text(u, "LAST_NAME")).trim().to_owned())
        .unwrap_or_else(|| format!("user {}", id.0))
}

fn stage(item: &Value) -> String {
    let s = text(item, "stageId");
    if s.is_empty() { text(item, "statusId") } else { s }
}

/// The tab a viewer opened on an item's page: its frame (query string and form body) to POST
/// to the handler.
pub(crate) struct OpenTab<'a> {
    /// The index of the tab among the item's bound handlers.
    pub(crate) index: usize,
    /// The handler's URL.
    pub(crate) handler: &'a str,
    /// The frame request's query string.
    pub(crate) query: &'a str,
    /// The frame request's form body.
    pub(crate) body: &'a str,
}

/// The bound detail tabs of `kind`: (title, handler), in binding order. None until the
/// application's installation is finished (RD `widgets/crm/detail-tab.md`: the widget is not
/// shown until then).
pub(crate) fn tabs(portal: &Portal, kind: Kind) -> Vec<(String, String)> {
    if !portal.installed {
        return vec![];
    }
    portal
        .placements
        .iter()
        .filter(|p| p["placement"] == kind.placement())
        .map(|p| {
            let title = text(p, "title");
            let title = if title.is_empty() { "Application".to_owned() } else { title };
            (title, text(p, "handler"))
        })
        .collect()
}

/// The `PLACEMENT_OPTIONS` of an item's tab (RD `widgets/crm/detail-tab.md`: `ID` as a string,
/// and `URI`, the card's address).
pub(crate) fn tab_options(kind: Kind, id: u64) -> Value {
    json!({"ID": id.to_string(), "URI": format!("/crm/{}/details/{id}/", kind.slug())})
}

/// Escapes `text` for HTML and makes every `http://` or `https://` address in it a link (the
/// address runs to the next white space). An address on the portal itself (`https://<domain>/`,
/// e.g. an application's link `/marketplace/app/<code>/?params[...]`) leads into the simulated
/// portal (`/p/<domain>/...`, keeping the viewer's `viewer` query) in the same window, as
/// Bitrix24 opens its own addresses in place.
fn linkify(text: &str, domain: &str, viewer: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let at = ["http://", "https://"].iter().filter_map(|p| rest.find(p)).min();
        let Some(at) = at else {
            out.push_str(&esc(rest));
            return out;
        };
        out.push_str(&esc(&rest[..at]));
        let end = rest[at..].find(char::is_whitespace).map_or(rest.len(), |e| at + e);
        let url = &rest[at..end];
        let local = ["https://", "http://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme)?.strip_prefix(domain)?.strip_prefix('/'));
        match local {
            Some(path) if !domain.is_empty() => {
                let sep = if path.contains('?') { '&' } else { '?' };
                out.push_str(&format!(
                    "<a href=\"{}\" data-portal-link>{}</a>",
                    esc(&format!("/p/{domain}/{path}{sep}{viewer}")),
                    esc(url)
                ));
            }
            _ => out.push_str(&format!(
                "<a href=\"{u}\" target=\"_blank\" rel=\"noopener\">{u}</a>",
                u = esc(url)
            )),
        }
        rest = &rest[end..];
    }
}

/// The timeline of an item: (kind, HTML), newest first. Comments (`crm.timeline.comment.add`),
/// activities (`crm.activity.*` with the item as owner) and log entries
/// (`crm.timeline.logmessage.add`, keyed on `entityTypeId`/`entityId`: time, title, text with
/// its links clickable).
fn timeline(portal: &Portal, kind: Kind, id: u64, viewer: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(u64, String, String)> = vec![];
    for (cid, c) in &portal.comments {
        let of_item = c
            .get("ENTITY_TYPE")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(kind.slug()))
            && c.get("ENTITY_ID").and_then(Id::from_value).is_some_and(|e| e.0 == id);
        if of_item {
            rows.push((*cid, "comment".to_owned(), esc(&text(c, "COMMENT"))));
        }
    }
    for (aid, a) in &portal.activities {
        let owner_type =
            a.get("OWNER_TYPE_ID").or_else(|| a.get("ownerTypeId")).and_then(Id::from_value);
        let owner = a.get("OWNER_ID").or_else(|| a.get("ownerId")).and_then(Id::from_value);
        if owner_type.is_some_and(|t| t.0 == u64::from(kind.entity_type_id()))
            && owner.is_some_and(|o| o.0 == id)
        {
            let subject = [
                text(a, "SUBJECT"),
                text(a, "title"),
                text(a, "DESCRIPTION"),
                text(a, "description"),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
            rows.push((*aid, "activity".to_owned(), esc(&subject)));
        }
    }
    for (lid, e) in &portal.log_messages {
        let of_item = e.get("entityTypeId").and_then(Id::from_value).map(|t| t.0)
            == Some(u64::from(kind.entity_type_id()))
            && e.get("entityId").and_then(Id::from_value).is_some_and(|i| i.0 == id);
        if of_item {
            let html = format!(
                "<time>{}</time> <b class=\"title\">{}</b>\n<div class=\"text\">{}</div>",
                esc(&text(e, "created")),
                esc(&text(e, "title")),
                linkify(&text(e, "text"), &portal.domain, viewer),
            );
            rows.push((*lid, "log".to_owned(), html));
        }
    }
    // Ids grow with every write: the highest is the newest.
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.into_iter().map(|(_, k, t)| (k, t)).collect()
}

/// `/p/<domain>/crm/<type>/<id>`: the item's fields, its timeline and its tabs; with `tab`
/// open, the handler's frame. `None` when there is no such item.
pub(crate) fn item_page(
    portal: &Portal,
    kind: Kind,
    id: u64,
    user: u64,
    lang: &str,
    tab: Option<&OpenTab<'_>>,
) -> Option<String> {
    let item = portal.crm.get(&kind.entity_type_id())?.get(&id)?;
    let domain = &portal.domain;
    let name = display_name(kind, item);
    let base = format!("/p/{}/crm/{}/{id}", esc(domain), kind.slug());
    let q = viewer_query(user, lang);
    let mut nav = format!(
        "<nav class=\"tabs\"><a href=\"{base}?{q}\"{cur}>Overview</a>",
        cur = if tab.is_none() { " aria-current=page" } else { "" }
    );
    for (i, (title, _)) in tabs(portal, kind).iter().enumerate() {
        let cur = if tab.is_some_and(|t| t.index == i) { " aria-current=page" } else { "" };
        nav.push_str(&format!(
            "<a href=\"{base}?{q}&amp;tab={i}\" data-tab=\"{i}\"{cur}>{}</a>",
            esc(title)
        ));
    }
    nav.push_str("</nav>\n");
    let content = match tab {
        Some(t) => {
            let fields: String = form_urlencoded::parse(t.body.as_bytes())
                .map(|(k, v)| {
                    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", esc(&k), esc(&v))
                })
                .collect();
            let sep = if t.handler.contains('?') { '&' } else { '?' };
            format!(
                "<form id=\"b24-tab\" method=\"POST\" target=\"tab\" action=\"{action}\">\n{fields}</form>\n\
<iframe name=\"tab\" title=\"{title}\" allow=\"microphone; clipboard-write\"></iframe>\n\
<script>document.getElementById('b24-tab').submit();</script>\n",
                action = esc(&format!("{}{sep}{}", t.handler, t.query)),
                title =
                    esc(&tabs(portal, kind).get(t.index).map(|x| x.0.clone()).unwrap_or_default()),
            )
        }
        None => {
            let mut fields = format!(
                "<table class=\"fields\"><tr><th>Name</th><td data-field=\"name\">{}</td></tr>\n\
<tr><th>Phones</th><td data-field=\"phones\">{}</td></tr>\n\
<tr><th>Responsible</th><td data-field=\"responsible\">{}</td></tr>\n\
<tr><th>Stage</th><td data-field=\"stage\">{}</td></tr>\n",
                esc(&name),
                esc(&phones(item).join(", ")),
                esc(&responsible(portal, item)),
                esc(&stage(item)),
            );
            for (key, linked) in [("contactId", Kind::Contact), ("companyId", Kind::Company)] {
                if let Some(cid) = item.get(key).and_then(Id::from_value).filter(|c| c.0 != 0)
                    && let Some(other) =
                        portal.crm.get(&linked.entity_type_id()).and_then(|s| s.get(&cid.0))
                {
                    fields.push_str(&format!(
                        "<tr><th>{label}</th><td><a href=\"/p/{domain}/crm/{slug}/{cid}?{q}\">{n}</a></td></tr>\n",
                        label = if linked == Kind::Contact { "Contact" } else { "Company" },
                        domain = esc(domain),
                        slug = linked.slug(),
                        cid = cid.0,
                        n = esc(&display_name(linked, other)),
                    ));
                }
            }
            fields.push_str("</table>\n");
            let entries = timeline(portal, kind, id, &format!("user={user}&lang={lang}"));
            let timeline = if entries.is_empty() {
                "<p class=\"empty\">Nothing yet.</p>\n".to_owned()
            } else {
                let li: String = entries
                    .iter()
                    .map(|(k, t)| format!("<li data-entry=\"{k}\">{t}</li>\n"))
                    .collect();
                format!("<ol class=\"timeline\">\n{li}</ol>\n")
            };
            format!("{fields}<h3>Timeline</h3>\n{timeline}")
        }
    };
    let body = format!(
        "<section data-kind=\"{slug}\" data-id=\"{id}\"><h1>{name}</h1>\n{nav}{content}</section>\n",
        slug = kind.slug(),
        name = esc(&name),
    );
    Some(wrap(domain, &name, &body))
}

impl Sim {
    /// Adds a CRM item (`entity_type_id` 1 lead, 2 deal, 3 contact, 4 company) with `fields`
    /// (`crm.item.add`'s camelCase fields, `fm` for phones) to a portal, as a person would in
    /// the portal's CRM. Returns its id.
    pub fn add_crm_item(
        &self,
        member_id: &str,
        entity_type_id: u32,
        fields: &Value,
    ) -> crate::error::Result<u64> {
        let mut st = self.state();
        let portal = st
            .portals
            .get_mut(member_id)
            .ok_or_else(|| crate::error::Error::UnknownPortal(member_id.to_owned()))?;
        let mut item: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
        let id = portal.id();
        item.insert("id".to_owned(), json!(id));
        item.insert("entityTypeId".to_owned(), json!(entity_type_id));
        item.entry("assignedById").or_insert(json!(1));
        portal.crm.entry(entity_type_id).or_default().insert(id, Value::Object(item));
        Ok(id)
    }

    /// The shell's CRM pages under `/p/<domain>/crm/...` (`rest`: what follows `crm`).
    pub(crate) fn crm_page(
        &self,
        domain: &str,
        rest: &[&str],
        params: &Map<String, Value>,
    ) -> Reply {
        let html = |status: u16, body: String| {
            reply(status, "text/html; charset=utf-8", body.into_bytes())
        };
        let not_found =
            || html(404, "<!doctype html><title>Not found</title><p>Not found.</p>".to_owned());
        let user = params.get("user").and_then(Id::from_value).map_or(1, |i| i.0);
        let lang = params
            .get("lang")
            .and_then(Value::as_str)
            .filter(|l| (2..=5).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))
            .unwrap_or("en")
            .to_owned();
        let member_id = {
            let st = self.state();
            st.domains.get(domain).cloned()
        };
        let Some(member_id) = member_id else { return not_found() };
        match rest {
            [] | [""] => {
                let st = self.state();
                match st.portals.get(&member_id) {
                    Some(p) => html(200, list_page(p, user, &lang)),
                    None => not_found(),
                }
            }
            [slug, id] => {
                let (Some(kind), Ok(id)) = (Kind::from_slug(slug), id.parse::<u64>()) else {
                    return not_found();
                };
                let tab_index = params.get("tab").and_then(Id::from_value).map(|i| i.0);
                let handler = tab_index.and_then(|i| {
                    let st = self.state();
                    let p = st.portals.get(&member_id)?;
                    p.crm.get(&kind.entity_type_id())?.get(&id)?;
                    tabs(p, kind).get(usize::try_from(i).ok()?).map(|t| t.1.clone())
                });
                let frame = match (tab_index, &handler) {
                    (Some(_), None) => return not_found(),
                    (Some(i), Some(_)) => {
                        match self.frame_request_in(
                            &member_id,
                            user,
                            kind.placement(),
                            &tab_options(kind, id),
                            &lang,
                        ) {
                            Ok(f) => Some((usize::try_from(i).unwrap_or(0), f)),
                            Err(_) => {
                                return html(
                                    500,
                                    "<!doctype html><p>cannot issue tokens</p>".to_owned(),
                                );
                            }
                        }
                    }
                    _ => None,
                };
                let st = self.state();
                let Some(p) = st.portals.get(&member_id) else { return not_found() };
                let open = match (&frame, &handler) {
                    (Some((index, (query, body))), Some(handler)) => {
                        Some(OpenTab { index: *index, handler, query, body })
                    }
                    _ => None,
                };
                match item_page(p, kind, id, user, &lang, open.as_ref()) {
                    Some(page) => html(200, page),
                    None => not_found(),
                }
            }
            _ => not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::PortalSpec;

    fn portal() -> Portal {
        let mut p = Portal::new(&PortalSpec::new("m1", "alpha.test"), "apptoken".to_owned());
        let contact = json!({"id": 5, "name": "Olga", "lastName": "<Ivanova>", "assignedById": 2,
            "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 000-00-01"},
                   {"typeId": "EMAIL", "valueType": "WORK", "value": "o@x.test"}]});
        p.crm.entry(3).or_default().insert(5, contact);
        let deal =
            json!({"id": 6, "title": "Sofa", "contactId": 5, "stageId": "NEW", "assignedById": 1});
        p.crm.entry(2).or_default().insert(6, deal);
        p.comments.insert(
            7,
            json!({"ID": 7, "ENTITY_TYPE": "contact", "ENTITY_ID": 5, "COMMENT": "called <back>"}),
        );
        p.placements.push(json!({"placement": "CRM_CONTACT_DETAIL_TAB", "handler": "http://app.test/b24/crm-tab", "title": "WhatsApp"}));
        p
    }

    #[test]
    fn the_list_links_every_item_with_its_fields() {
        let html = list_page(&portal(), 2, "en");
        assert!(html.contains("<section data-kind=\"contact\"><h2>Contacts</h2>"));
        assert!(
            html.contains(
                "<a href=\"/p/alpha.test/crm/contact/5?user=2&lang=en\">Olga &lt;Ivanova&gt;</a>"
            ),
            "{html}"
        );
        assert!(html.contains("<td>+7 916 000-00-01</td><td>Clara User2</td>"), "{html}");
        assert!(html.contains("<a href=\"/p/alpha.test/crm/deal/6?user=2&lang=en\">Sofa</a>"));
        // No companies or leads: said so.
        assert_eq!(html.matches("None yet.").count(), 2);
    }

    #[test]
    fn an_items_page_shows_fields_timeline_and_bound_tabs() {
        let p = portal();
        let html = item_page(&p, Kind::Contact, 5, 1, "en", None).unwrap();
        assert!(html.contains("<td data-field=\"phones\">+7 916 000-00-01</td>"), "{html}");
        assert!(html.contains("<td data-field=\"responsible\">Clara User2</td>"));
        assert!(html.contains("<li data-entry=\"comment\">called &lt;back&gt;</li>"));
        assert!(html.contains("href=\"/p/alpha.test/crm/contact/5?user=1&lang=en&amp;tab=0\" data-tab=\"0\">WhatsApp</a>"), "{html}");
        // A deal links its contact and has no tab bound.
        let html = item_page(&p, Kind::Deal, 6, 1, "en", None).unwrap();
        assert!(html.contains(
            "<a href=\"/p/alpha.test/crm/contact/5?user=1&lang=en\">Olga &lt;Ivanova&gt;</a>"
        ));
        assert!(html.contains("<td data-field=\"stage\">NEW</td>") && !html.contains("data-tab="));
        assert!(item_page(&p, Kind::Lead, 5, 1, "en", None).is_none());
        // Before installFinish the portal shows no application tab.
        let mut p = portal();
        p.installed = false;
        let html = item_page(&p, Kind::Contact, 5, 1, "en", None).unwrap();
        assert!(!html.contains("data-tab="), "{html}");
    }

    /// RD `crm/timeline/logmessage/crm-timeline-logmessage-add.md`: a log entry (title, text)
    /// on an item (`entityTypeId`, `entityId`) shows in its timeline beside the comments.
    #[test]
    fn the_timeline_shows_log_entries_newest_first_with_links() {
        let mut p = portal();
        p.log_messages.insert(
            9,
            json!({"id": 9, "created": "2026-12-05T10:00:00+00:00", "entityTypeId": 3,
                "entityId": 5, "title": "WhatsApp <line>",
                "text": "Olga: hi\nfile https://app.test/f/1?a=1&b=2 done"}),
        );
        // Another item's entry, and a lead with the same id, stay out.
        p.log_messages.insert(
            10,
            json!({"id": 10, "created": "x", "entityTypeId": 1, "entityId": 5, "title": "other",
                "text": "t"}),
        );
        let html = item_page(&p, Kind::Contact, 5, 1, "en", None).unwrap();
        let log = html.find("<li data-entry=\"log\">").expect("log entry");
        let comment = html.find("<li data-entry=\"comment\">").expect("comment");
        assert!(log < comment, "newest first: {html}");
        assert!(html.contains("<time>2026-12-05T10:00:00+00:00</time> <b class=\"title\">WhatsApp &lt;line&gt;</b>"), "{html}");
        assert!(html.contains("Olga: hi\nfile <a href=\"https://app.test/f/1?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener\">https://app.test/f/1?a=1&amp;b=2</a> done"), "{html}");
        assert!(!html.contains("other"));
    }

    #[test]
    fn linkify_escapes_around_links() {
        assert_eq!(
            linkify("<a> http://x", "alpha.test", "user=1&lang=en"),
            "&lt;a&gt; <a href=\"http://x\" target=\"_blank\" rel=\"noopener\">http://x</a>"
        );
        assert_eq!(linkify("no links", "alpha.test", "user=1"), "no links");
        // An address on the portal leads into the simulated portal, the viewer kept.
        assert_eq!(
            linkify(
                "open https://alpha.test/marketplace/app/local.1/?params[conversation_id]=5 now",
                "alpha.test",
                "user=3&lang=en"
            ),
            "open <a href=\"/p/alpha.test/marketplace/app/local.1/?params[conversation_id]=5&amp;user=3&amp;lang=en\" data-portal-link>https://alpha.test/marketplace/app/local.1/?params[conversation_id]=5</a> now"
        );
        // Another host that merely starts with the domain is not the portal.
        assert!(
            linkify("https://alpha.test.evil/x", "alpha.test", "u").contains("target=\"_blank\"")
        );
    }

    /// RD `widgets/crm/detail-tab.md`: the handler gets a POST, part in the query string,
    /// the rest in the body, `PLACEMENT_OPTIONS` `{"ID":"8061","URI":...}`.
    #[test]
    fn an_open_tab_posts_the_frame_to_its_handler() {
        let p = portal();
        let opts = tab_options(Kind::Contact, 5);
        assert_eq!(opts["ID"], "5");
        let body = format!(
            "AUTH_ID=at&member_id=m1&PLACEMENT=CRM_CONTACT_DETAIL_TAB&PLACEMENT_OPTIONS={}",
            form_urlencoded::byte_serialize(opts.to_string().as_bytes()).collect::<String>()
        );
        let tab = OpenTab {
            index: 0,
            handler: "http://app.test/b24/crm-tab",
            query: "DOMAIN=alpha.test&LANG=en",
            body: &body,
        };
        let html = item_page(&p, Kind::Contact, 5, 1, "en", Some(&tab)).unwrap();
        assert!(
            html.contains("action=\"http://app.test/b24/crm-tab?DOMAIN=alpha.test&amp;LANG=en\""),
            "{html}"
        );
        assert!(html.contains(
            "<input type=\"hidden\" name=\"PLACEMENT\" value=\"CRM_CONTACT_DETAIL_TAB\">"
        ));
        assert!(html.contains("name=\"PLACEMENT_OPTIONS\" value=\"{&quot;ID&quot;:&quot;5&quot;,&quot;URI&quot;:&quot;/crm/contact/details/5/&quot;}\""), "{html}");
        assert!(html.contains("data-tab=\"0\" aria-current=page>WhatsApp</a>"));
        assert!(!html.contains("Timeline"));
    }
}
