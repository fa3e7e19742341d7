//! web-core hosted files: the GraphQL face of `/api/upload` and `/api/find`. The access token
//! is the credential, as for `balance` and `ledger`; charges appear in `ledger` with the
//! references `upload:<filehash>` and `download:<transfer>`.
use async_graphql::{
    Context, Object, SimpleObject,
    connection::{Connection, Edge, EmptyFields},
};
use wharf_core::{hosting::HostedFile as CoreFile, ledger::LedgerError};

use super::{
    error::{Code, bad_input, error, internal, ledger_error},
    services,
};

const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 20;

/// A file hosted through web-core's `/api/upload`.
#[derive(SimpleObject)]
pub struct HostedFile {
    /// SHA-256 of the ciphertext: the file's id.
    filehash: String,
    /// `filehash[:7] + "_" + name`: the download's file name.
    name: String,
    size: i64,
    /// The ciphertext's CID; `/ipfs/{cid}` serves it (encrypted).
    cid: String,
    /// Path of the ciphertext on this server.
    ipfs_path: String,
    /// Unix milliseconds of the first upload (by anyone).
    created_at: i64,
}

impl From<CoreFile> for HostedFile {
    fn from(f: CoreFile) -> Self {
        Self {
            ipfs_path: format!("/ipfs/{}", f.cid),
            filehash: f.filehash,
            name: f.name,
            size: f.size,
            cid: f.cid,
            created_at: f.created_at,
        }
    }
}

/// One upload by an access token.
#[derive(SimpleObject)]
pub struct HostedUpload {
    file: HostedFile,
    /// Bytes of credit charged.
    charged: i64,
    /// Unix milliseconds.
    uploaded_at: i64,
}

#[derive(Default)]
pub struct HostingQuery;

#[Object]
impl HostingQuery {
    /// Files uploaded with an access token, newest first. The key is not kept: it is only in
    /// the upload's answer.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn hosted_files(
        &self,
        ctx: &Context<'_>,
        token: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, HostedUpload, EmptyFields, EmptyFields>> {
        let services = services(ctx)?;
        let first = match first {
            None => DEFAULT_PAGE,
            Some(n) if n >= 0 && (n as usize) <= MAX_PAGE => n as usize,
            Some(_) => return Err(bad_input(format!("first must be between 0 and {MAX_PAGE}"))),
        };
        let before = match after {
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| bad_input("after is not a cursor from this connection"))?,
            ),
            None => None,
        };
        if !services
            .ledger
            .token_exists(&token)
            .await
            .map_err(ledger_error)?
        {
            return Err(ledger_error(LedgerError::UnknownToken));
        }
        let mut rows = services
            .hosting
            .uploads_of(&token, before, first as u64 + 1)
            .await
            .map_err(internal)?;
        let has_next = rows.len() > first;
        rows.truncate(first);
        let mut connection = Connection::new(before.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|u| {
            Edge::new(
                u.id.to_string(),
                HostedUpload {
                    file: u.file.into(),
                    charged: u.charged,
                    uploaded_at: u.uploaded_at,
                },
            )
        }));
        Ok(connection)
    }

    /// A hosted file by its hash (anyone may look it up, as `GET /api/find`).
    async fn hosted_file(
        &self,
        ctx: &Context<'_>,
        hash: String,
    ) -> async_graphql::Result<HostedFile> {
        services(ctx)?
            .hosting
            .find(&hash)
            .await
            .map_err(internal)?
            .map(HostedFile::from)
            .ok_or_else(|| error(Code::NotFound, "no hosted file has that hash"))
    }
}
