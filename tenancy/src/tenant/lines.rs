//! WhatsApp lines: creation, assignment, status, settings.

use sqlx::Row;
use time::OffsetDateTime;

use super::{
    Tenant,
    access::{scope_of, visible_line},
    audit_log::audit_in,
    open_channels::enqueue_connector_status,
    rows::{LINE_COLUMNS, LINE_COLUMNS_OF_L, line_from_row},
};
use crate::{
    Caller, Error, Line, LineId, LineSettings, LineStatus, Result, UserId, model::check_len,
};

impl Tenant {
    /// Creates a line if the plan's quota allows another one.
    pub async fn create_line(
        &self,
        caller: Caller,
        name: &str,
        phone: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Line> {
        caller.require_admin("only administrators create lines")?;
        check_len(name, 255, "line name longer than 255 bytes")?;
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("line name is empty"));
        }
        if let Some(p) = phone {
            check_len(p, 32, "phone longer than 32 bytes")?;
        }
        let mut tx = self.write().await?;
        // Touching the settings row takes its lock, so concurrent creators are serialised.
        let max: i64 = sqlx::query(
            "UPDATE settings SET line_quota = line_quota WHERE id = 1 RETURNING line_quota",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let current: i64 = sqlx::query("SELECT COUNT(*) FROM lines WHERE deleted_at IS NULL")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if current >= max {
            return Err(Error::QuotaExceeded { current, max });
        }
        let at = audit::unix_ms(now);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO lines (name, phone, status, created_at) VALUES ($1, $2, 'new', $3) \
             RETURNING {LINE_COLUMNS}"
        )))
        .bind(name)
        .bind(phone)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let line = line_from_row(&row)?;
        let subject = format!("line:{}", line.id);
        audit_in(&self.audit_key, &mut tx, audit::Kind::LineCreated, caller, &subject, b"{}", now)
            .await?;
        tx.commit().await?;
        Ok(line)
    }

    /// Deletes a line: it disappears for everyone and stops counting against the quota. Its
    /// history is kept (a deleted line is never reused).
    pub async fn delete_line(
        &self,
        caller: Caller,
        line_id: LineId,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_admin("only administrators delete lines")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET deleted_at = $2 WHERE id = $1")
            .bind(line_id)
            .bind(audit::unix_ms(now))
            .execute(&mut *tx)
            .await?;
        // The Open Line it fed is told the connector is off there.
        if line.open_channel.feeds_open_line() && line.open_line_id.is_some() {
            let gone = Line { open_channel: crate::OpenChannel::Panel, ..line.clone() };
            enqueue_connector_status(&mut tx, self, &gone, line.open_line_id, audit::unix_ms(now))
                .await?;
        }
        let subject = format!("line:{line_id}");
        audit_in(&self.audit_key, &mut tx, audit::Kind::LineDeleted, caller, &subject, b"{}", now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns a line to a user (or unassigns it with `None`). The new assignee sees the line's
    /// whole history; unread counts are kept.
    pub async fn assign_line(
        &self,
        caller: Caller,
        line_id: LineId,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Line> {
        caller.require_admin("only administrators assign lines")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        if let Some(uid) = user {
            let known = sqlx::query("SELECT COUNT(*) FROM users WHERE id = $1")
                .bind(uid)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>(0)?;
            if known == 0 {
                return Err(Error::NotFound("user"));
            }
        }
        sqlx::query("UPDATE lines SET assigned_user = $2 WHERE id = $1")
            .bind(line_id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let kind = if line.assigned_user.is_none() {
            audit::Kind::LineAssigned
        } else {
            audit::Kind::LineReassigned
        };
        let payload = serde_json::json!({ "from": line.assigned_user, "to": user }).to_string();
        let subject = format!("line:{line_id}");
        audit_in(&self.audit_key, &mut tx, kind, caller, &subject, payload.as_bytes(), now).await?;
        tx.commit().await?;
        Ok(Line { assigned_user: user, ..line })
    }

    /// Records a line's WhatsApp connection state (the server's line runtime only), with the raw
    /// event in the audit log.
    pub async fn set_line_status(
        &self,
        caller: Caller,
        line_id: LineId,
        status: LineStatus,
        raw: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server changes line status")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET status = $2 WHERE id = $1")
            .bind(line_id)
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?;
        let subject = format!("line:{line_id}");
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::ConnectionState,
            caller,
            &subject,
            raw,
            now,
        )
        .await?;
        if line.status != status {
            // What the Open Line shows follows whether WhatsApp is connected.
            if line.open_channel.feeds_open_line()
                && line.open_line_id.is_some()
                && (line.status == LineStatus::Connected) != (status == LineStatus::Connected)
            {
                let updated = Line { status, ..line.clone() };
                enqueue_connector_status(
                    &mut tx,
                    self,
                    &updated,
                    line.open_line_id,
                    audit::unix_ms(now),
                )
                .await?;
            }
            let payload =
                serde_json::json!({ "from": line.status.as_str(), "to": status.as_str() })
                    .to_string();
            audit_in(
                &self.audit_key,
                &mut tx,
                audit::Kind::LineStatusChanged,
                caller,
                &subject,
                payload.as_bytes(),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the phone number a line is linked to (the server's line runtime only, when the
    /// phone has scanned the QR code; the pairing event itself is audited with the status).
    pub async fn set_line_phone(&self, caller: Caller, line_id: LineId, phone: &str) -> Result<()> {
        caller.require_system("only the server links a line to a phone")?;
        check_len(phone, 32, "phone number longer than 32 characters")?;
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET phone = $2 WHERE id = $1")
            .bind(line_id)
            .bind(phone)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lines the caller may see: all of them for administrators, their own for users.
    pub async fn lines(&self, caller: Caller) -> Result<Vec<Line>> {
        let mut tx = self.read().await?;
        let rows = match caller {
            Caller::System | Caller::Admin(_) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {LINE_COLUMNS} FROM lines \
                     WHERE deleted_at IS NULL ORDER BY id"
                )))
                .fetch_all(&mut *tx)
                .await?
            }
            caller @ Caller::User(_) => {
                let (scope, uid) = scope_of(caller, 1);
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {LINE_COLUMNS_OF_L} FROM lines l \
                     WHERE l.deleted_at IS NULL AND {scope} ORDER BY l.id"
                )))
                .bind(uid)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        rows.iter().map(line_from_row).collect()
    }

    /// One line, if the caller may see it.
    pub async fn line(&self, caller: Caller, line_id: LineId) -> Result<Line> {
        let mut tx = self.read().await?;
        visible_line(&mut tx, caller, line_id).await
    }

    /// Changes a line's settings (administrators only); a change is audited with the old and
    /// new values, and setting what is already set changes nothing. Sending conversations to an
    /// Open Line needs one chosen, fed by no other line; a change of where they go (or of the
    /// Open Line) queues telling Bitrix24, in the same transaction.
    pub async fn set_line_settings(
        &self,
        caller: Caller,
        line_id: LineId,
        settings: &LineSettings,
        now: OffsetDateTime,
    ) -> Result<Line> {
        caller.require_admin("only administrators change line settings")?;
        if let Some(Some(id)) = settings.open_line_id
            && id <= 0
        {
            return Err(Error::InvalidInput("an Open Line id is a positive integer"));
        }
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        let new = Line {
            send_read_receipts: settings.send_read_receipts.unwrap_or(line.send_read_receipts),
            open_channel: settings.open_channel.unwrap_or(line.open_channel),
            open_line_id: settings.open_line_id.unwrap_or(line.open_line_id),
            open_channel_signature: settings
                .open_channel_signature
                .unwrap_or(line.open_channel_signature),
            assigned_department: settings.assigned_department.unwrap_or(line.assigned_department),
            responsible_mode: settings.responsible_mode.unwrap_or(line.responsible_mode),
            ..line.clone()
        };
        if new == line {
            return Ok(line);
        }
        if let Some(department) = new.assigned_department
            && new.assigned_department != line.assigned_department
        {
            let known: i64 = sqlx::query("SELECT COUNT(*) FROM departments WHERE id = $1")
                .bind(department)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            if known == 0 {
                return Err(Error::NotFound("department"));
            }
        }
        if new.open_channel.feeds_open_line() {
            let Some(open_line_id) = new.open_line_id else {
                return Err(Error::InvalidInput(
                    "choose the Open Line before sending conversations to it",
                ));
            };
            let taken: i64 = sqlx::query(
                "SELECT COUNT(*) FROM lines WHERE open_line_id = $1 AND id <> $2 \
                 AND deleted_at IS NULL AND open_channel <> 'panel'",
            )
            .bind(open_line_id)
            .bind(line_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if taken > 0 {
                return Err(Error::InvalidInput("another line already feeds this Open Line"));
            }
        }
        sqlx::query(
            "UPDATE lines SET send_read_receipts = $2, open_channel = $3, open_line_id = $4, \
             open_channel_signature = $5, assigned_department = $6, responsible_mode = $7 \
             WHERE id = $1",
        )
        .bind(line_id)
        .bind(i64::from(new.send_read_receipts))
        .bind(new.open_channel.as_str())
        .bind(new.open_line_id)
        .bind(i64::from(new.open_channel_signature))
        .bind(new.assigned_department)
        .bind(new.responsible_mode.as_str())
        .execute(&mut *tx)
        .await?;
        let mut changes = serde_json::Map::new();
        if new.send_read_receipts != line.send_read_receipts {
            changes.insert(
                "send_read_receipts".into(),
                serde_json::json!({ "from": line.send_read_receipts, "to": new.send_read_receipts }),
            );
        }
        if new.open_channel != line.open_channel {
            changes.insert(
                "open_channel".into(),
                serde_json::json!({
                    "from": line.open_channel.as_str(), "to": new.open_channel.as_str(),
                }),
            );
        }
        if new.open_line_id != line.open_line_id {
            changes.insert(
                "open_line_id".into(),
                serde_json::json!({ "from": line.open_line_id, "to": new.open_line_id }),
            );
        }
        if new.open_channel_signature != line.open_channel_signature {
            changes.insert(
                "open_channel_signature".into(),
                serde_json::json!({
                    "from": line.open_channel_signature, "to": new.open_channel_signature,
                }),
            );
        }
        if new.assigned_department != line.assigned_department {
            changes.insert(
                "assigned_department".into(),
                serde_json::json!({
                    "from": line.assigned_department, "to": new.assigned_department,
                }),
            );
        }
        if new.responsible_mode != line.responsible_mode {
            changes.insert(
                "responsible_mode".into(),
                serde_json::json!({
                    "from": line.responsible_mode.as_str(), "to": new.responsible_mode.as_str(),
                }),
            );
        }
        let was_fed = line.open_channel.feeds_open_line().then_some(line.open_line_id).flatten();
        let is_fed = new.open_channel.feeds_open_line().then_some(new.open_line_id).flatten();
        let at = audit::unix_ms(now);
        if was_fed != is_fed {
            enqueue_connector_status(&mut tx, self, &new, was_fed, at).await?;
        }
        let payload = serde_json::Value::Object(changes).to_string();
        let subject = format!("line:{line_id}");
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::LineSettingsChanged,
            caller,
            &subject,
            payload.as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(new)
    }
}
