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
