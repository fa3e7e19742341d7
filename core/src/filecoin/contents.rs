//! The pieces of a dataset, imported in bulk from delta-dm JSON, Singularity JSON, CSV or a
//! collection list. Each row succeeds or fails on its own; good rows are stored in batches.
use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::Value;
use wharf_entity::dataset_content;

use super::{DatasetError, datasets, pieces};
use crate::{sql, time::now_ms};

/// Rows stored per statement (9 values each, well under SQLite's bound-parameter limit).
const BATCH: usize = 500;
/// Most rows one import may carry.
pub const MAX_ROWS: usize = 1_000_000;
/// Longest content location a piece may have (the column's width).
pub const MAX_LOCATION_BYTES: usize = 2048;

/// One piece as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRow {
    pub comm_p: String,
    pub payload_cid: String,
    pub size: u64,
    pub padded_size: u64,
    pub content_location: Option<String>,
}

/// The answer to an import: the piece CIDs stored, and those refused (with why, in the log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    pub success: Vec<String>,
    pub fail: Vec<String>,
}

/// A row that could not be read: what identifies it (its piece CID, or `row N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub id: String,
    pub reason: String,
}

impl ContentRow {
    pub fn check(&self) -> Result<(), String> {
        pieces::check_piece_cid(&self.comm_p)?;
        pieces::check_payload_cid(&self.payload_cid)?;
        pieces::check_sizes(self.size, self.padded_size)?;
        if self
            .content_location
            .as_ref()
            .is_some_and(|l| l.len() > MAX_LOCATION_BYTES)
        {
            return Err(format!(
                "content_location is longer than {MAX_LOCATION_BYTES} characters"
            ));
        }
        Ok(())
    }
}

fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key).and_then(Value::as_str).map(str::trim)
}

/// A non-negative integer given as a JSON number or a string of digits.
fn whole(item: &Value, key: &str) -> Option<u64> {
    match item.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn identify(item: &Value, key: &str, index: usize) -> String {
    text(item, key)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(128).collect())
        .unwrap_or_else(|| format!("row {}", index + 1))
}

fn read_items(items: &[Value], keys: [&str; 5]) -> Vec<Result<ContentRow, BadRow>> {
    let [comm_p, payload, size, padded, location] = keys;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = |reason: &str| BadRow {
                id: identify(item, comm_p, i),
                reason: reason.to_string(),
            };
            let row = ContentRow {
                comm_p: text(item, comm_p)
                    .ok_or_else(|| bad("no piece CID"))?
                    .to_string(),
                payload_cid: text(item, payload)
                    .ok_or_else(|| bad("no payload CID"))?
                    .to_string(),
                size: whole(item, size).ok_or_else(|| bad("no valid size"))?,
                padded_size: whole(item, padded).ok_or_else(|| bad("no valid padded size"))?,
                content_location: text(item, location)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            };
            row.check().map_err(|reason| bad(&reason))?;
            Ok(row)
        })
        .collect()
}

/// delta-dm JSON: `[{"payload_cid","commp","padded_size","size","content_location"?}]`.
pub fn read_delta_json(items: &[Value]) -> Vec<Result<ContentRow, BadRow>> {
    read_items(
        items,
        [
            "commp",
            "payload_cid",
            "size",
            "padded_size",
            "content_location",
        ],
    )
}

/// Singularity V1 JSON: `[{"carSize","dataCid","pieceCid","pieceSize"}]`.
pub fn read_singularity_json(items: &[Value]) -> Vec<Result<ContentRow, BadRow>> {
    read_items(
        items,
        [
            "pieceCid",
            "dataCid",
            "carSize",
            "pieceSize",
            "contentLocation",
        ],
    )
}

/// CSV with the header `commP,payloadCid,size,paddedSize` (any order) and optionally
/// `ContentLocation`. A missing header fails the whole import; bad rows fail alone.
pub fn read_csv(body: &[u8]) -> Result<Vec<Result<ContentRow, BadRow>>, DatasetError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| DatasetError::Invalid(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(comm_p), Some(payload), Some(size), Some(padded)) = (
        column("commP"),
        column("payloadCid"),
        column("size"),
        column("paddedSize"),
    ) else {
        return Err(DatasetError::Invalid(
            "the CSV header must name commP,payloadCid,size,paddedSize".into(),
        ));
    };
    let location = column("ContentLocation").or_else(|| column("content_location"));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if rows.len() >= MAX_ROWS {
            return Err(DatasetError::Invalid(format!(
                "an import may hold at most {MAX_ROWS} rows"
            )));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push(Err(BadRow {
                    id: format!("row {}", i + 1),
                    reason: e.to_string(),
                }));
                continue;
            }
        };
        let field = |index: usize| record.get(index).unwrap_or("").to_string();
        let id = Some(field(comm_p))
            .filter(|c| !c.is_empty())
            .map(|c| c.chars().take(128).collect())
            .unwrap_or_else(|| format!("row {}", i + 1));
        let bad = |reason: String| BadRow {
            id: id.clone(),
            reason,
        };
        let number = |index: usize, what: &str| {
            field(index)
                .parse::<u64>()
                .map_err(|_| bad(format!("no valid {what}")))
        };
        let row = (|| {
            let row = ContentRow {
                comm_p: field(comm_p),
                payload_cid: field(payload),
                size: number(size, "size")?,
                padded_size: number(padded, "padded size")?,
                content_location: location.map(field).filter(|l| !l.is_empty()),
            };
            row.check().map_err(bad)?;
            Ok(row)
        })();
        rows.push(row);
    }
    Ok(rows)
}

/// Stores rows in a dataset. Rows already present (here or in another dataset: a piece
/// belongs to one dataset) and repeats within the import fail; the rest are stored.
pub async fn import(
    db: &DatabaseConnection,
    rows: Vec<(i32, Result<ContentRow, BadRow>)>,
) -> Result<ImportOutcome, DatasetError> {
    let mut outcome = ImportOutcome::default();
    let mut seen = HashSet::new();
    let mut good: Vec<(i32, ContentRow)> = Vec::new();
    for (dataset_id, row) in rows {
        match row {
            Ok(row) if seen.insert(row.comm_p.clone()) => good.push((dataset_id, row)),
            Ok(row) => {
                tracing::debug!(piece = %row.comm_p, "repeated in the import");
                outcome.fail.push(row.comm_p);
            }
            Err(bad) => {
                tracing::debug!(row = %bad.id, reason = %bad.reason, "content row refused");
                outcome.fail.push(bad.id);
            }
        }
    }
    let now = now_ms();
    let txn = sql::begin_write(db).await?;
    for chunk in good.chunks(BATCH) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 9);
        for (dataset_id, row) in chunk {
            values.extend([
                row.comm_p.clone().into(),
                row.payload_cid.clone().into(),
                (row.size as i64).into(),
                (row.padded_size as i64).into(),
                (*dataset_id).into(),
                0i64.into(),
                row.content_location.clone().into(),
                now.into(),
                now.into(),
            ]);
        }
        let text = format!(
            "INSERT INTO contents (comm_p, payload_cid, size, padded_size, dataset_id, num_replications, content_location, created_at, updated_at) \
             VALUES {} ON CONFLICT (comm_p) DO NOTHING RETURNING comm_p",
            sql::row_placeholders(chunk.len(), 9)
        );
        #[derive(FromQueryResult)]
        struct Stored {
            comm_p: String,
        }
        let stored: HashSet<String> =
            Stored::find_by_statement(sql::statement(&txn, &text, values))
                .all(&txn)
                .await?
                .into_iter()
                .map(|s| s.comm_p)
                .collect();
        for (_, row) in chunk {
            if stored.contains(&row.comm_p) {
                outcome.success.push(row.comm_p.clone());
            } else {
                outcome.fail.push(row.comm_p.clone());
            }
        }
    }
    txn.commit().await?;
    Ok(outcome)
}

/// Collection JSON: `[{"commp","payload_cid","size","padded_size","collection","content_location"}]`,
/// `collection` naming the dataset; all six are required.
pub async fn read_collections(
    db: &DatabaseConnection,
    items: &[Value],
) -> Result<Vec<(i32, Result<ContentRow, BadRow>)>, DatasetError> {
    // Each dataset name is looked up once (upstream's cache lost every second row).
    let mut ids: HashMap<String, Option<i32>> = HashMap::new();
    let rows = read_delta_json(items);
    let mut out = Vec::with_capacity(rows.len());
    for (i, (item, row)) in items.iter().zip(rows).enumerate() {
        let id = identify(item, "commp", i);
        let Some(name) = text(item, "collection").filter(|n| !n.is_empty()) else {
            out.push((
                0,
                Err(BadRow {
                    id,
                    reason: "no collection".into(),
                }),
            ));
            continue;
        };
        if text(item, "content_location").is_none_or(str::is_empty) {
            out.push((
                0,
                Err(BadRow {
                    id,
                    reason: "no content_location".into(),
                }),
            ));
            continue;
        }
        let dataset = match ids.get(name) {
            Some(found) => *found,
            None => {
                let found = datasets::by_name(db, name).await?.map(|d| d.id);
                ids.insert(name.to_string(), found);
                found
            }
        };
        match dataset {
            Some(dataset_id) => out.push((dataset_id, row)),
            None => out.push((
                0,
                Err(BadRow {
                    id,
                    reason: format!("dataset {name} does not exist"),
                }),
            )),
        }
    }
    Ok(out)
}

pub async fn list(
    db: &DatabaseConnection,
    dataset_id: i32,
) -> Result<Vec<dataset_content::Model>, DatasetError> {
    datasets::get(db, dataset_id).await?;
    Ok(dataset_content::Entity::find()
        .filter(dataset_content::Column::DatasetId.eq(dataset_id))
        .order_by_asc(dataset_content::Column::CreatedAt)
        .order_by_asc(dataset_content::Column::CommP)
        .all(db)
        .await?)
}

/// The pieces with these piece CIDs.
pub async fn by_pieces(
    db: &DatabaseConnection,
    pieces: Vec<String>,
) -> Result<Vec<dataset_content::Model>, DatasetError> {
    if pieces.is_empty() {
        return Ok(Vec::new());
    }
    Ok(dataset_content::Entity::find()
        .filter(dataset_content::Column::CommP.is_in(pieces))
        .all(db)
        .await?)
}

/// A page of a dataset's pieces in import order, and how many it has.
pub async fn page(
    db: &DatabaseConnection,
    dataset_id: i32,
    offset: u64,
    limit: u64,
) -> Result<(Vec<dataset_content::Model>, u64), DatasetError> {
    use sea_orm::{PaginatorTrait, QuerySelect};
    datasets::get(db, dataset_id).await?;
    let query = dataset_content::Entity::find()
        .filter(dataset_content::Column::DatasetId.eq(dataset_id))
        .order_by_asc(dataset_content::Column::CreatedAt)
        .order_by_asc(dataset_content::Column::CommP);
    let total = query.clone().count(db).await?;
    let rows = query.offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PIECE: &str = "baga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy";
    const PAYLOAD: &str = "bafybeien5jzez2bsn3eluylu2mcdubnnz7bqbx6umw7ijxwl7ghauaaxjq";

    #[test]
    fn reads_the_reference_csv_and_keeps_bad_rows_apart() {
        let body = format!(
            "commP,payloadCid,size,paddedSize\n{PIECE},{PAYLOAD},24692724205,34359738368\nnot-a-cid,{PAYLOAD},1,128\n{PIECE},{PAYLOAD},x,128\n"
        );
        let rows = read_csv(body.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].as_ref().unwrap().size, 24_692_724_205);
        assert_eq!(rows[1].as_ref().unwrap_err().id, "not-a-cid");
        assert!(rows[2].is_err());
        assert!(read_csv(b"a,b\n1,2\n").is_err(), "header required");
    }

    #[test]
    fn reads_singularity_fields() {
        let rows = read_singularity_json(&[json!({"carSize": 100, "dataCid": PAYLOAD,
            "pieceCid": PIECE, "pieceSize": 128})]);
        let row = rows[0].as_ref().unwrap();
        assert_eq!((row.size, row.padded_size), (100, 128));
        assert_eq!(row.comm_p, PIECE);
    }
}
