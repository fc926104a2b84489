//! A line's device store (its WhatsApp keys), sealed with the tenant key.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Tenant, access::visible_line};
use crate::{Caller, LineId, Result, crypto::aad, db::Tx, model::check_len};

/// Deletes the entry under (line, namespace, key) inside `tx` (nothing if there is none).
pub(crate) async fn device_delete(
    tx: &mut AnyConnection,
    line_id: LineId,
    namespace: &str,
    key: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM device_store WHERE line_id = $1 AND namespace = $2 AND key = $3")
        .bind(line_id)
        .bind(namespace)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn device_aad(line_id: LineId, namespace: &str, key: &str) -> Vec<u8> {
    aad(&[b"device", &line_id.to_be_bytes(), namespace.as_bytes(), key.as_bytes()])
}

impl Tenant {
    /// Writes (Some) or deletes (None) entries of a line's device store in one transaction.
    /// Values are sealed with the tenant key and bound to (line, namespace, key). Server only.
    pub async fn device_write(
        &self,
        caller: Caller,
        line_id: LineId,
        entries: &[(&str, &str, Option<&[u8]>)],
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server touches device keys")?;
        let mut tx = self.device_begin(line_id, true).await?;
        for (namespace, key, value) in entries {
            match value {
                Some(v) => self.device_put(&mut tx, line_id, namespace, key, v, now).await?,
                None => device_delete(&mut tx, line_id, namespace, key).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reads and decrypts one device-store entry. Server only.
    pub async fn device_get(
        &self,
        caller: Caller,
        line_id: LineId,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        caller.require_system("only the server touches device keys")?;
        let mut tx = self.device_begin(line_id, false).await?;
        self.device_read(&mut tx, line_id, namespace, key).await
    }

    /// A transaction on a line's device store (write or read-only), after checking the line exists.
    pub(crate) async fn device_begin(&self, line_id: LineId, write: bool) -> Result<Tx> {
        let mut tx = if write { self.write().await? } else { self.read().await? };
        visible_line(&mut tx, Caller::System, line_id).await?;
        Ok(tx)
    }

    /// Seals `value` and upserts it under (line, namespace, key) inside `tx`.
    pub(crate) async fn device_put(
        &self,
        tx: &mut AnyConnection,
        line_id: LineId,
        namespace: &str,
        key: &str,
        value: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        check_len(namespace, 64, "namespace longer than 64 bytes")?;
        check_len(key, 256, "key longer than 256 bytes")?;
        let sealed =
            self.key.seal(self.random.as_ref(), &device_aad(line_id, namespace, key), value)?;
        sqlx::query(
            "INSERT INTO device_store (line_id, namespace, key, value, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (line_id, namespace, key) \
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(line_id)
        .bind(namespace)
        .bind(key)
        .bind(sealed)
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Reads and opens the value under (line, namespace, key) inside `tx`.
    pub(crate) async fn device_read(
        &self,
        tx: &mut AnyConnection,
        line_id: LineId,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let row = sqlx::query(
            "SELECT value FROM device_store WHERE line_id = $1 AND namespace = $2 AND key = $3",
        )
        .bind(line_id)
        .bind(namespace)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let sealed: Vec<u8> = r.try_get(0)?;
                Ok(Some(self.key.open(&device_aad(line_id, namespace, key), &sealed)?))
            }
        }
    }

    /// The keys in one namespace of a line's device store, sorted. Server only.
    pub async fn device_keys(
        &self,
        caller: Caller,
        line_id: LineId,
        namespace: &str,
    ) -> Result<Vec<String>> {
        caller.require_system("only the server touches device keys")?;
        let mut tx = self.read().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let rows = sqlx::query(
            "SELECT key FROM device_store WHERE line_id = $1 AND namespace = $2 ORDER BY key",
        )
        .bind(line_id)
        .bind(namespace)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}
