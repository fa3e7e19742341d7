//! Sign-In with Ethereum: `siweNonce`, `signIn`, `signOut`, `me`.
use async_graphql::{Context, Object, SimpleObject};
use wharf_core::auth::{Principal, siwe};

use super::{
    caller,
    error::{Code, bad_input, error, internal},
    scalars::Timestamp,
    services,
};

#[derive(Default)]
pub struct AuthQuery;

/// Who a request is authenticated as: a signed-in wallet or the operator.
#[derive(SimpleObject)]
pub struct Viewer {
    /// Lower-case 0x address of the signed-in wallet; null for the operator.
    address: Option<String>,
    /// Whether the request carries the operator API key (true) rather than a wallet session.
    operator: bool,
}

/// Sign-In with Ethereum: nonces and the current caller.
#[Object]
impl AuthQuery {
    /// A fresh single-use nonce to put in a Sign-In with Ethereum message.
    async fn siwe_nonce(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let services = services(ctx)?;
        siwe::issue_nonce(&services.db, services.config.auth.siwe_nonce_ttl_secs)
            .await
            .map_err(internal)
    }

    /// Who this request is authenticated as; null when it carries no credential.
    async fn me(&self, ctx: &Context<'_>) -> Option<Viewer> {
        caller(ctx).map(|p| match p {
            Principal::Operator => Viewer {
                address: None,
                operator: true,
            },
            Principal::Wallet(a) => Viewer {
                address: Some(format!("{a:#x}")),
                operator: false,
            },
        })
    }
}

#[derive(Default)]
pub struct AuthMutation;

/// A session opened by `signIn`.
#[derive(SimpleObject)]
pub struct SignInResult {
    /// The session token. Send as `Authorization: Bearer <token>`, or in the WebSocket
    /// `connection_init` payload.
    token: String,
    /// Lower-case 0x address of the wallet that signed the message.
    address: String,
    /// When the session ends: the configured session length from now, or the message's
    /// `expirationTime` if that is sooner.
    expires_at: Timestamp,
}

/// Opening and ending wallet sessions.
#[Object]
impl AuthMutation {
    /// Verifies a signed EIP-4361 message and opens a session.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The EIP-4361 message, as signed (at most 8 KiB), with a nonce from \
                    `siweNonce` and this server's domain."
        )]
        message: String,
        #[graphql(
            desc = "The wallet's EIP-191 `personal_sign` signature of the message: 65 bytes in hex."
        )]
        signature: String,
    ) -> async_graphql::Result<SignInResult> {
        let services = services(ctx)?;
        if message.len() > 8 * 1024 {
            return Err(bad_input("message too long"));
        }
        let session = siwe::sign_in(
            &services.db,
            &services.config.siwe_domain(),
            &message,
            &signature,
            services.config.auth.session_ttl_secs,
        )
        .await
        .map_err(|e| match e {
            siwe::SiweError::Db(db) => internal(db),
            siwe::SiweError::Malformed(_) => bad_input(e.to_string()),
            other => error(Code::Unauthenticated, other.to_string()),
        })?;
        Ok(SignInResult {
            token: session.token,
            address: format!("{:#x}", session.address),
            expires_at: session.expires_at_ms.into(),
        })
    }

    /// Ends the session whose token is given. Returns whether one was open.
    async fn sign_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session token `signIn` returned.")] token: String,
    ) -> async_graphql::Result<bool> {
        let services = services(ctx)?;
        siwe::sign_out(&services.db, &token).await.map_err(internal)
    }
}
