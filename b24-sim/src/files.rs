//! Files on a portal's disk: what an operator attaches to an Open Lines message. Bitrix24 sends
//! the application a link on the portal (`files[i].link` of `ONIMCONNECTORMESSAGEADD`); the
//! simulator serves such links at `/p/<domain>/disk/<token>/<name>`.

use crate::{
    error::{Error, Result},
    reply::{Reply, reply},
    sim::Sim,
    state::HostedFile,
};

impl Sim {
    /// Keeps `bytes` on the disk of portal `member_id` and returns the link Bitrix24 would put
    /// in an event (`{base}/p/<domain>/disk/<token>/<name>`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPortal`], [`Error::NotStarted`].
    pub fn host_file(
        &self,
        member_id: &str,
        name: &str,
        mime: &str,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let base = self.base_url()?;
        let mut st = self.state();
        let domain = st
            .portals
            .get(member_id)
            .map(|p| p.domain.clone())
            .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
        let token = st.token("file");
        st.files.insert(
            token.clone(),
            HostedFile { domain: domain.clone(), mime: mime.to_owned(), bytes },
        );
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        Ok(format!("{base}/p/{domain}/disk/{token}/{name}"))
    }

    /// `GET /p/<domain>/disk/<token>/...`: a hosted file, or 404.
    pub(crate) fn serve_file(&self, domain: &str, token: &str) -> Reply {
        let file = self.state().files.get(token).filter(|f| f.domain == domain).cloned();
        match file {
            Some(f) => reply(200, &f.mime, f.bytes),
            None => reply(404, "text/html", b"<html><body>404 Not Found</body></html>".to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{PortalSpec, Sim, SimConfig};

    #[tokio::test]
    async fn a_hosted_file_is_served_on_its_portal_only() {
        let sim = Sim::new(SimConfig::default());
        sim.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        sim.add_portal(PortalSpec::new("m1", "one.test"));
        sim.add_portal(PortalSpec::new("m2", "two.test"));
        let link = sim.host_file("m1", "a b/../photo.jpg", "image/jpeg", b"JPEG".to_vec()).unwrap();
        assert!(link.starts_with(&format!("{}/p/one.test/disk/", sim.base_url().unwrap())));
        assert!(link.ends_with("/ab..photo.jpg"), "{link}");
        let got = reqwest::get(&link).await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        assert_eq!(got.bytes().await.unwrap().as_ref(), b"JPEG");
        let elsewhere = link.replace("/p/one.test/", "/p/two.test/");
        assert_eq!(reqwest::get(&elsewhere).await.unwrap().status(), 404);
        assert!(sim.host_file("nobody", "x", "text/plain", vec![]).is_err());
    }
}
