//! Uploads in progress: how many each tenant and the whole server stream at once, and the
//! bytes each tenant's uploads have reserved against its storage quota.

use std::collections::HashMap;

use super::AppState;
use crate::error::{ApiError, ApiResult};

/// Uploads in progress, per tenant and in all, with the bytes each tenant's have reserved
/// against its storage quota.
#[derive(Debug, Default)]
pub(super) struct Uploads {
    total: usize,
    tenants: HashMap<String, TenantUploads>,
}

#[derive(Debug, Default)]
struct TenantUploads {
    active: usize,
    reserved: u64,
}

/// One upload's place among the uploads in progress; dropping it frees the place and its
/// reservation.
#[derive(Debug)]
pub struct UploadSlot {
    state: AppState,
    member_id: String,
    reserved: u64,
}

impl UploadSlot {
    /// Reserves `bytes` of the tenant's storage quota for this upload, given `used` bytes
    /// already stored: 413 naming current and maximum when they do not fit.
    pub fn reserve(&mut self, used: u64, bytes: u64) -> ApiResult<()> {
        let max = self.state.settings().limits.storage_per_tenant;
        let mut uploads = self.state.uploads();
        let entry = uploads.tenants.entry(self.member_id.clone()).or_default();
        let others = entry.reserved.saturating_sub(self.reserved);
        let current = used.saturating_add(others);
        if current.saturating_add(bytes) > max {
            return Err(ApiError::StorageQuota { current, max });
        }
        entry.reserved = others.saturating_add(bytes);
        self.reserved = bytes;
        Ok(())
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut uploads = self.state.uploads();
        uploads.total = uploads.total.saturating_sub(1);
        if let Some(t) = uploads.tenants.get_mut(&self.member_id) {
            t.active = t.active.saturating_sub(1);
            t.reserved = t.reserved.saturating_sub(self.reserved);
            if t.active == 0 {
                uploads.tenants.remove(&self.member_id);
            }
        }
    }
}

impl AppState {
    /// A place among the uploads in progress for a tenant: 429 when the tenant has its
    /// maximum under way, 503 when the server has.
    pub fn begin_upload(&self, member_id: &str) -> ApiResult<UploadSlot> {
        let limits = &self.settings().limits;
        let mut uploads = self.uploads();
        let active = uploads.tenants.get(member_id).map_or(0, |t| t.active);
        if active >= limits.uploads_per_tenant {
            return Err(ApiError::TooManyUploads(limits.uploads_per_tenant));
        }
        if uploads.total >= limits.uploads_total {
            return Err(ApiError::Unavailable(
                "the server is receiving as many files as it can; try again in a moment".to_owned(),
            ));
        }
        uploads.total += 1;
        uploads.tenants.entry(member_id.to_owned()).or_default().active += 1;
        Ok(UploadSlot { state: self.clone(), member_id: member_id.to_owned(), reserved: 0 })
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, Uploads> {
        self.inner.uploads.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
