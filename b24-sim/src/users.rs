//! What a portal says about the calling user: `profile` and `user.access` (scope `basic`: any
//! token or webhook may call them).

use b24_client::Id;
use serde_json::{Map, Value, json};

use crate::portal::Portal;

impl Portal {
    /// `profile` (RD `api-reference/common/users/profile.md`): `ID`, `ADMIN`, `NAME`,
    /// `LAST_NAME`, `PERSONAL_GENDER` and `TIME_ZONE` (empty strings when unset),
    /// `PERSONAL_PHOTO` only when the user has one; an empty object for an inactive or unknown
    /// user. `TIME_ZONE_OFFSET` is no longer documented (removed as obsolete) and not sent.
    pub(crate) fn profile(&self, user: u64) -> Value {
        let Some(u) = self.users.get(&user).filter(|u| u.get("ACTIVE") != Some(&json!(false)))
        else {
            return json!({});
        };
        let text = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut out = Map::new();
        out.insert("ID".to_owned(), json!(user.to_string()));
        out.insert("ADMIN".to_owned(), json!(self.is_admin(user)));
        for k in ["NAME", "LAST_NAME", "PERSONAL_GENDER", "TIME_ZONE"] {
            out.insert(k.to_owned(), json!(text(k)));
        }
        if let Some(photo) =
            u.get("PERSONAL_PHOTO").and_then(Value::as_str).filter(|p| !p.is_empty())
        {
            out.insert("PERSONAL_PHOTO".to_owned(), json!(photo));
        }
        Value::Object(out)
    }

    /// `user.access` (RD `api-reference/common/users/user-access.md`): true when the user holds
    /// at least one of the access codes in `ACCESS`, and always for an administrator. Codes:
    /// `U<id>` the user, `G1` administrators, `G2` every user, `AU` any authorised user,
    /// `D<id>` a member of the department, `DR<id>` of the department or one below it.
    pub(crate) fn user_access(&self, user: u64, p: &Value) -> bool {
        if self.is_admin(user) {
            return true;
        }
        let codes: Vec<String> = match p.get("ACCESS") {
            Some(Value::Array(a)) => {
                a.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(Value::Object(o)) => {
                o.values().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(Value::String(s)) => vec![s.clone()],
            _ => vec![],
        };
        let departments = self.departments_of(user);
        codes.iter().any(|code| {
            let code = code.trim().to_ascii_uppercase();
            let number =
                |prefix: &str| code.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
            if code == "AU" {
                self.users.contains_key(&user)
            } else if let Some(d) = number("DR") {
                departments.iter().any(|mine| self.department_within(*mine, d))
            } else if let Some(d) = number("D") {
                departments.contains(&d)
            } else if let Some(u) = number("U") {
                u == user
            } else if let Some(g) = number("G") {
                // The sim's portals have the two built-in groups only.
                g == 2 && self.users.contains_key(&user)
            } else {
                false
            }
        })
    }

    /// Adds or replaces a department (RD `api-reference/departments/department-get.md`: `ID`,
    /// `NAME`, `SORT`, `PARENT` absent for the top, `UF_HEAD`).
    pub(crate) fn put_department(
        &mut self,
        id: u64,
        name: &str,
        parent: Option<u64>,
        head: Option<u64>,
    ) {
        let mut d = json!({"ID": id.to_string(), "NAME": name, "SORT": 500});
        if let Some(p) = parent {
            d["PARENT"] = json!(p.to_string());
        }
        if let Some(h) = head {
            d["UF_HEAD"] = json!(h.to_string());
        }
        self.departments.insert(id, d);
    }

    /// The departments a user belongs to (`UF_DEPARTMENT`).
    fn departments_of(&self, user: u64) -> Vec<u64> {
        self.users
            .get(&user)
            .and_then(|u| u.get("UF_DEPARTMENT"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Id::from_value).map(|i| i.0).collect())
            .unwrap_or_default()
    }

    /// True when `department` is `ancestor` or lies below it (bounded by the number of
    /// departments, so a cycle in the data cannot loop).
    fn department_within(&self, department: u64, ancestor: u64) -> bool {
        let mut current = Some(department);
        for _ in 0..=self.departments.len() {
            match current {
                Some(d) if d == ancestor => return true,
                Some(d) => {
                    current = self
                        .departments
                        .get(&d)
                        .and_then(|dep| dep.get("PARENT"))
                        .and_then(Id::from_value)
                        .map(|i| i.0);
                }
                None => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::portal::{Portal, PortalSpec};

    /// `DR<id>` admits members of the department and of every department below it; `D<id>`
    /// members of that department only.
    #[test]
    fn dr_reaches_down_the_department_tree() {
        let mut portal = Portal::new(&PortalSpec::new("m", "d.test"), String::new());
        if let Some(u) = portal.users.get_mut(&2) {
            u["UF_DEPARTMENT"] = json!([2]);
        }
        let access = |codes: &[&str]| portal.user_access(2, &json!({"ACCESS": codes}));
        assert!(access(&["DR1"]), "Sales (2) lies under Company (1)");
        assert!(access(&["DR2"]) && access(&["D2"]));
        assert!(!access(&["D1"]), "D is not recursive");
        assert!(!access(&["DR3"]));
    }
}
