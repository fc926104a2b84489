//! The portal shell page: an iframe into which the frame parameters are POSTed as Bitrix24 does,
//! so that a person can try an application locally.

/// What the shell page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShellView<'a> {
    /// No portal has this domain.
    NoPortal,
    /// The portal has no application URL and the query named none.
    NoAppUrl {
        /// The portal's domain.
        domain: &'a str,
    },
    /// The frame parameters could not be made.
    NoTokens,
    /// A viewer's frame of the application.
    Frame(Frame<'a>),
}

/// A viewer's frame: what the page POSTs into the iframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    /// The portal's domain.
    pub(crate) domain: &'a str,
    /// The viewer's user id.
    pub(crate) user: u64,
    /// The placement opened (`DEFAULT` for the application itself).
    pub(crate) placement: &'a str,
    /// The application's URL.
    pub(crate) app_url: &'a str,
    /// The frame request's query string (appended to `app_url`).
    pub(crate) query: &'a str,
    /// The frame request's form body (sent as hidden fields).
    pub(crate) body: &'a str,
    /// The viewer's language (`LANG`), for the contact center beside the frame too.
    pub(crate) lang: &'a str,
}

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// `scheme://host[:port]` of a URL. The frame is navigated by a form POST and has no `src`, so
/// a permission granted with a bare `allow="microphone"` would name the shell's own origin.
fn origin_of(url: &str) -> &str {
    let Some(start) = url.find("://").map(|i| i + 3) else { return url };
    match url[start..].find(['/', '?', '#']) {
        Some(end) => &url[..start + end],
        None => url,
    }
}

/// The portal's contact center beside the application (`/p/<domain>/center`).
fn center_frame(domain: &str, lang: &str) -> String {
    let query = if lang == "ru" { "?lang=ru" } else { "" };
    format!(
        "<iframe class=\"center\" title=\"contact center\" src=\"/p/{}/center{query}\"></iframe>",
        esc(domain)
    )
}

/// The page for `view`: its HTTP status and HTML.
pub(crate) fn page(view: &ShellView<'_>) -> (u16, String) {
    let frame = match view {
        ShellView::NoPortal => {
            return (
                404,
                "<!doctype html><title>No such portal</title><p>No such portal.</p>".to_owned(),
            );
        }
        ShellView::NoAppUrl { domain } => {
            return (
                200,
                format!(
                    "<!doctype html><title>{0}</title><p>Portal {0}: no application URL (start with --app-url or add ?app=URL).</p>\n{1}",
                    esc(domain),
                    center_frame(domain, "en")
                ),
            );
        }
        ShellView::NoTokens => {
            return (500, "<!doctype html><p>cannot issue tokens</p>".to_owned());
        }
        ShellView::Frame(frame) => frame,
    };
    let Frame { domain, user, placement, app_url, query, body, lang } = frame;
    let fields: String = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| {
            format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", esc(&k), esc(&v))
        })
        .collect();
    let sep = if app_url.contains('?') { '&' } else { '?' };
    (
        200,
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{domain} - Bitrix24 (simulated)</title>\n\
<style>body{{margin:0;font-family:sans-serif;background:#eef2f4}}header{{background:#2fc6f6;color:#fff;padding:8px 16px}}\
main{{display:flex}}iframe{{border:0;height:calc(100vh - 40px);background:#fff}}iframe[name=app]{{flex:1}}\
iframe.center{{width:380px;border-left:1px solid #c6d0d4;background:#eef2f4}}</style></head>\n\
<body><header>{domain} &middot; user {user} &middot; {placement} &middot; <a style=\"color:#fff\" href=\"/p/{domain}/crm?user={user}&amp;lang={lang}\">CRM</a></header>\n\
<form id=\"b24-frame\" method=\"POST\" target=\"app\" action=\"{action}\">\n{fields}</form>\n\
<main><iframe name=\"app\" title=\"application\" allow=\"microphone {app_origin}; clipboard-write {app_origin}\"></iframe>\n\
{center}</main>\n\
<script>document.getElementById('b24-frame').submit();</script>\n</body></html>\n",
            domain = esc(domain),
            placement = esc(placement),
            action = esc(&format!("{app_url}{sep}{query}")),
            app_origin = esc(origin_of(app_url)),
            center = center_frame(domain, lang),
            lang = esc(lang),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::{Frame, ShellView, origin_of, page};

    #[test]
    fn the_page_is_made_from_its_view_alone() {
        assert_eq!(page(&ShellView::NoPortal).0, 404);
        assert_eq!(page(&ShellView::NoTokens).0, 500);
        let (status, html) = page(&ShellView::NoAppUrl { domain: "a<b>.test" });
        assert_eq!(status, 200);
        assert!(html.contains("Portal a&lt;b&gt;.test: no application URL"));
        let frame = Frame {
            domain: "alpha.test",
            user: 7,
            placement: "DEFAULT",
            app_url: "http://127.0.0.1:9/app?x=1",
            query: "DOMAIN=alpha.test&LANG=en",
            body: "AUTH_ID=at1&PLACEMENT_OPTIONS=%7B%22a%22%3A%22%3Cb%3E%22%7D",
            lang: "en",
        };
        let (status, html) = page(&ShellView::Frame(frame));
        assert_eq!(status, 200);
        assert!(html.contains("<header>alpha.test &middot; user 7 &middot; DEFAULT &middot; "));
        assert!(html.contains("href=\"/p/alpha.test/crm?user=7&amp;lang=en\">CRM</a></header>"));
        // The query joins the application URL's own with `&`, escaped in the attribute.
        assert!(
            html.contains(
                "action=\"http://127.0.0.1:9/app?x=1&amp;DOMAIN=alpha.test&amp;LANG=en\""
            )
        );
        assert!(html.contains("<input type=\"hidden\" name=\"AUTH_ID\" value=\"at1\">"));
        assert!(html.contains("value=\"{&quot;a&quot;:&quot;&lt;b&gt;&quot;}\""));
        assert!(html.contains(
            "allow=\"microphone http://127.0.0.1:9; clipboard-write http://127.0.0.1:9\""
        ));
        assert!(html.contains(
            "<iframe class=\"center\" title=\"contact center\" src=\"/p/alpha.test/center\">"
        ));
    }

    #[test]
    fn the_frames_permissions_name_the_apps_origin() {
        assert_eq!(origin_of("http://127.0.0.1:8080/b24/app"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("https://app.example.com?x=1"), "https://app.example.com");
        assert_eq!(origin_of("https://app.example.com"), "https://app.example.com");
    }
}
