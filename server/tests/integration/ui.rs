//! The chat panel: the app page boots the embedded UI with the session, in the viewer's
//! language; the UI's files are served with their types and revalidated by ETag.

use serde_json::{Value, json};

use crate::app::{ALPHA, start};

fn session_of(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"wab24-session\">";
    let start = page.find(open).expect("session element") + open.len();
    let end = page[start..].find("</script>").unwrap() + start;
    serde_json::from_str(&page[start..end]).unwrap()
}

#[tokio::test]
async fn the_app_page_boots_the_ui_in_the_viewers_language() {
    let app = start().await;
    app.install(ALPHA).await;
    for (user, lang, want_lang, role) in [
        (1, "ru", "ru", "admin"),
        (2, "en", "en", "user"),
        (2, "ua", "ru", "user"),
        (3, "de", "en", "user"),
    ] {
        let (q, b) = app.sim.frame_request_in(ALPHA, user, "DEFAULT", &json!({}), lang).unwrap();
        let a = app.post_form("/b24/app", &q, b).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains(&format!("<html lang={want_lang}>")), "{}", a.body);
        assert!(a.body.contains("<script type=module src=\"/ui/app.js\">"));
        assert!(a.body.contains("href=\"/ui/app.css\""));
        let s = session_of(&a.body);
        assert_eq!(
            (s["role"].as_str(), s["user_id"].as_i64(), s["lang"].as_str()),
            (Some(role), Some(user as i64), Some(want_lang))
        );
        let me = app.get("/api/me", s["token"].as_str().unwrap()).await.json();
        assert_eq!(me["user_id"].as_i64(), Some(user as i64));
        // The page may load the UI, blobs (recordings, previews) and its own media only.
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("media-src 'self' blob:"));
        // Images also from the portal itself: its users' photos shown as avatars.
        assert!(csp.contains("img-src 'self' blob: data: http://alpha.test;"), "{csp}");
    }
}

#[tokio::test]
async fn ui_files_are_served_typed_and_revalidated() {
    let app = start().await;
    for (file, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let r = app.http.get(app.url(&format!("/ui/{file}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind));
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let embedded = wab24::http::ui::ASSETS.iter().find(|(n, _)| *n == file).unwrap().1;
        assert_eq!(r.bytes().await.unwrap().as_ref(), embedded);
        let again = app
            .http
            .get(app.url(&format!("/ui/{file}")))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    for missing in ["/ui/nope.js", "/ui/..%2FCargo.toml", "/ui/.hidden.js", "/ui/app.exe"] {
        let r = app.http.get(app.url(missing)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{missing}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "not_found", "{missing}");
    }
}

/// The keys of one language's table in i18n.js (`  en: {` ... `  },`).
fn strings_of<'a>(i18n: &'a str, lang: &str) -> std::collections::BTreeMap<&'a str, &'a str> {
    let start =
        i18n.find(&format!("\n  {lang}: {{\n")).unwrap_or_else(|| panic!("no {lang} table"));
    let body = &i18n[start..];
    let end = body.find("\n  },").unwrap();
    body[..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('\''))
        .filter_map(|l| l.split_once("': '"))
        .map(|(k, v)| (k, v.trim_end_matches(',').trim_end_matches('\'')))
        .collect()
}

/// Every string the UI asks for by a literal key, every error code the API answers and every
/// audit record kind has a text in Russian and in English, so a Russian viewer never gets an
/// English server message or a raw kind name.
#[test]
fn russian_covers_every_string_error_code_and_audit_kind() {
    let text = |name: &str| {
        let bytes = wab24::http::ui::ASSETS.iter().find(|(n, _)| *n == name).unwrap().1;
        std::str::from_utf8(bytes).unwrap()
    };
    let i18n = text("i18n.js");
    let (en, ru) = (strings_of(i18n, "en"), strings_of(i18n, "ru"));
    assert!(en.len() > 100 && ru.len() > 100, "{} and {} strings", en.len(), ru.len());
    let mut wanted: Vec<String> = Vec::new();
    for (name, bytes) in wab24::http::ui::ASSETS {
        if !name.ends_with(".js") {
            continue;
        }
        let js = std::str::from_utf8(bytes).unwrap();
        // Calls of `t('key'`, not of `get('...'`, `split('...'` and the like.
        for (at, _) in js.match_indices("t('") {
            let before = js[..at].chars().next_back().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' || before == '.' {
                continue;
            }
            wanted.push(js[at + 3..].split('\'').next().unwrap().to_owned());
        }
    }
    assert!(wanted.len() > 80, "{} literal keys found: the scan is broken", wanted.len());
    // The codes as the API's one error type names them.
    let errors = include_str!("../../src/error.rs");
    let code_fn =
        errors.split("pub fn code(&self)").nth(1).unwrap().split("\n    }\n").next().unwrap();
    let codes: Vec<&str> =
        code_fn.split("=> \"").skip(1).map(|p| p.split('"').next().unwrap()).collect();
    assert!(codes.contains(&"not_found") && codes.len() >= 10, "{codes:?}");
    wanted.extend(codes.iter().map(|c| format!("error.code.{c}")));
    wanted.extend(tenancy::audit::Kind::ALL.iter().map(|k| format!("audit.kind.{k}")));
    let missing: Vec<String> = wanted
        .iter()
        .filter(|k| !ru.contains_key(k.as_str()) || !en.contains_key(k.as_str()))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "without a text in both languages: {missing:?}");
    // The Russian texts are Russian (a copied English text would pass the check above).
    let latin_only: Vec<&str> = ru
        .iter()
        .filter(|(k, _)| k.starts_with("error.code.") || k.starts_with("audit.kind."))
        .filter(|(_, v)| !v.chars().any(|c| matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё')))
        .map(|(k, _)| *k)
        .collect();
    assert!(latin_only.is_empty(), "Russian texts without Cyrillic: {latin_only:?}");
}
