use std::{net::SocketAddr, sync::Arc};

use b24_client::{
    Error, Id,
    inbound::{Event, EventKind, FrameRequest, InstallCallback},
};
use b24_sim::{EventOptions, OutFile};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::Mutex;
use warp::Filter;

use crate::support::*;

/// A tiny application that records what the portal POSTs to it.
async fn app() -> (String, Arc<Mutex<Vec<(String, Bytes)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let route = warp::post()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::body::bytes())
        .then(move |path: warp::path::FullPath, q: String, body: Bytes| {
            let g = g.clone();
            async move {
                g.lock().await.push((format!("{}?{q}", path.as_str()), body));
                "ok"
            }
        });
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}"), got)
}

#[tokio::test]
async fn frame_posts_are_parsed_and_the_user_verified_through_the_portal() {
    let env = env().await;
    let (url, got) = app().await;
    let d = env
        .sim
        .open_frame(
            MEMBER,
            2,
            &format!("{url}/frame"),
            "CRM_DEAL_DETAIL_TAB",
            &json!({"ID": "8061", "URI": "/crm/deal/details/8061/"}),
        )
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    let (target, body) = got.lock().await[0].clone();
    let query = target.split_once('?').unwrap().1;
    let frame = FrameRequest::parse(query, &body).unwrap();
    assert_eq!(frame.entity_id(), Some(Id(8061)));
    assert_eq!(frame.placement, "CRM_DEAL_DETAIL_TAB");
    frame.verify_application_token(&env.sim.application_token(MEMBER).unwrap()).unwrap();
    let portal = env.portal();
    let user = portal.verify_frame_user(&frame).await.unwrap();
    assert_eq!(user.user_id, Id(2));
    assert!(!user.is_admin);
    // A frame whose token belongs to another application is refused.
    let mut forged = frame.clone();
    forged.auth_id = b24_client::Secret::new("not-a-token");
    assert!(portal.verify_frame_user(&forged).await.is_err());
    let mut other = frame.clone();
    other.member_id = "someone-else".into();
    assert!(matches!(portal.verify_frame_user(&other).await, Err(Error::FrameNotConfirmed(_))));
}

#[tokio::test]
async fn install_callback_and_events_from_the_portal() {
    let env = env().await;
    let (url, got) = app().await;
    env.sim.send_install_callback(MEMBER, &format!("{url}/install")).await.unwrap();
    let body = got.lock().await[0].1.clone();
    let cb = InstallCallback::parse(&body, env.client.now_unix()).unwrap();
    let app_token = env.sim.application_token(MEMBER).unwrap();
    cb.event.verify(&app_token).unwrap();
    // The installer's tokens work.
    let portal = env.client.portal(cb.tokens.clone());
    assert_eq!(portal.user_current().await.unwrap().id, Id(1));
    portal.event_bind("ONIMCONNECTORMESSAGEADD", &format!("{url}/events")).await.unwrap();
    portal.event_bind("ONAPPUNINSTALL", &format!("{url}/events")).await.unwrap();

    let files = [OutFile {
        name: "a.jpg".into(),
        link: "http://127.0.0.1/f/1".into(),
        kind: "image".into(),
    }];
    let ds = env
        .sim
        .operator_message(
            MEMBER,
            "wab24",
            12,
            "79991234567",
            "[b]Klaus:[/b] Hi",
            &files,
            EventOptions { copies: 2, ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(ds.len(), 2, "duplicated");
    env.sim
        .operator_message(
            MEMBER,
            "wab24",
            12,
            "79991234567",
            "forged",
            &[],
            EventOptions { forge_token: true, ..Default::default() },
        )
        .await
        .unwrap();
    let bodies: Vec<Bytes> = got
        .lock()
        .await
        .iter()
        .filter(|(t, _)| t.starts_with("/events"))
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(bodies.len(), 3);
    let e1 = Event::parse(&bodies[0]).unwrap();
    let e2 = Event::parse(&bodies[1]).unwrap();
    e1.verify(&app_token).unwrap();
    let (EventKind::ConnectorMessageAdd(m1), EventKind::ConnectorMessageAdd(m2)) =
        (&e1.kind, &e2.kind)
    else {
        panic!()
    };
    assert_eq!(m1.messages[0].im, m2.messages[0].im, "a duplicate carries the same ids");
    assert_eq!(m1.messages[0].message.files[0].name, "a.jpg");
    assert_eq!(m1.line, Id(12));
    let forged = Event::parse(&bodies[2]).unwrap();
    assert!(matches!(forged.verify(&app_token), Err(Error::TokenMismatch)));

    env.sim.uninstall(MEMBER, true).await.unwrap();
    let last = got.lock().await.last().unwrap().1.clone();
    let un = Event::parse(&last).unwrap();
    assert_eq!(un.kind, EventKind::AppUninstall { clean: true, language_id: "en".into() });
    assert!(un.auth.access_token.is_none());
    un.verify(&app_token).unwrap();
}

#[tokio::test]
async fn events_wait_for_install_finish() {
    let env = env_with(|s| s.install_finished = false, b24_client::RateLimit::ENTERPRISE).await;
    let (url, _got) = app().await;
    let p = env.portal();
    p.event_bind("ONIMCONNECTORMESSAGEADD", &format!("{url}/events")).await.unwrap();
    assert!(!p.app_info().await.unwrap().installed);
    assert!(
        env.sim
            .operator_message(MEMBER, "wab24", 1, "c", "x", &[], EventOptions::default())
            .await
            .unwrap()
            .is_empty()
    );
    env.sim.finish_install(MEMBER);
    assert_eq!(
        env.sim
            .operator_message(MEMBER, "wab24", 1, "c", "x", &[], EventOptions::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let late = env
        .sim
        .deliver_event(
            MEMBER,
            "ONIMCONNECTORSTATUSDELETE",
            json!({"connector": "wab24", "line": 1}),
            EventOptions {
                delay: Some(std::time::Duration::from_millis(50)),
                url: Some(format!("{url}/events")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(late[0].status, 200);
}
