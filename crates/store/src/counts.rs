//! Per-project certificate counts, spread over shards so concurrent writers on PostgreSQL do
//! not all update one row.

use certkeeper_domain::ids::ContainerId;

use crate::StoreError;
use crate::conn::{WriteConn, args};

/// How many rows each project's count is spread over.
pub(crate) const COUNT_SHARDS: i64 = 16;

/// Adds to a project's counts, on a random shard, inside the caller's transaction.
pub(crate) async fn bump_counts<C: WriteConn>(
    conn: &mut C,
    container: ContainerId,
    total: i64,
    organization: i64,
) -> Result<(), StoreError> {
    let shard = i64::from(rand::random::<u32>()) % COUNT_SHARDS;
    conn.execute(
        "INSERT INTO certificate_counts (container_id, shard, total, organization) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (container_id, shard) DO UPDATE SET total = certificate_counts.total + excluded.total, \
         organization = certificate_counts.organization + excluded.organization",
        args![container.0, shard, total, organization],
    )
    .await?;
    Ok(())
}
