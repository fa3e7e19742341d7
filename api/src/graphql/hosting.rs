//! web-core hosted files: the GraphQL face of `/api/upload` and `/api/find`. The access token
//! is the credential, as for `balance` and `ledger`; charges appear in `ledger` with the
//! references `upload:<filehash>` and `download:<transfer>`.
use async_graphql::{Context, Object, SimpleObject};
use wharf_core::{hosting::HostedFile as CoreFile, ledger::LedgerError};

use super::{
    error::{Code, bad_input, error, internal, ledger_error},
    scalars::{Long, Timestamp},
    services,
};

super::page::connection!(
    HostedUploadConnection,
    HostedUploadEdge,
    HostedUpload,
    "A page of the files uploaded with an access token, newest first.",
    "One hosted upload with its cursor."
);

const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 20;

/// A file hosted through web-core's `/api/upload`.
#[derive(SimpleObject)]
pub struct HostedFile {
    /// SHA-256 of the ciphertext, in lower-case hex: the file's id.
    filehash: String,
    /// `filehash[:7] + "_" + name`: the download's file name.
    name: String,
    /// Size in bytes (the ciphertext is as long as the plaintext).
    size: Long,
    /// The ciphertext's CID; `/ipfs/{cid}` serves it (encrypted).
    cid: String,
    /// Path of the ciphertext on this server.
    ipfs_path: String,
    /// When the file was first uploaded (by anyone).
    created_at: Timestamp,
}

impl From<CoreFile> for HostedFile {
    fn from(f: CoreFile) -> Self {
        Self {
            ipfs_path: format!("/ipfs/{}", f.cid),
            filehash: f.filehash,
            name: f.name,
            size: f.size.into(),
            cid: f.cid,
            created_at: f.created_at.into(),
        }
    }
}

/// One upload by an access token.
#[derive(SimpleObject)]
pub struct HostedUpload {
    /// The file uploaded.
    file: HostedFile,
    /// Bytes of credit charged to the access token for this upload.
    charged: Long,
    /// When this access token uploaded the file.
    uploaded_at: Timestamp,
}

#[derive(Default)]
pub struct HostingQuery;

/// Files hosted through web-core's upload route.
#[Object]
impl HostingQuery {
    /// Files uploaded with an access token, newest first. The key is not kept: it is only in
    /// the upload's answer.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn hosted_files(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token the files were uploaded with; it is the credential.")]
        token: String,
        #[graphql(desc = "How many uploads to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The cursor of the upload to continue after, from a previous page.")]
        after: Option<String>,
    ) -> async_graphql::Result<HostedUploadConnection> {
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
        let mut connection = HostedUploadConnection::new(before.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|u| {
            HostedUploadEdge::new(
                u.id.to_string(),
                HostedUpload {
                    file: u.file.into(),
                    charged: u.charged.into(),
                    uploaded_at: u.uploaded_at.into(),
                },
            )
        }));
        Ok(connection)
    }

    /// A hosted file by its hash (anyone may look it up, as `GET /api/find`).
    async fn hosted_file(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file's `filehash` (SHA-256 of the ciphertext, hex).")] hash: String,
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
