//! Access tokens and their byte-credit ledger, promocodes, wallet nonces and sign-in sessions.
//! Times are Unix milliseconds in BIGINT columns so that SQLite and PostgreSQL compare them alike.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Token,
    OwnerAddress,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Balances {
    Table,
    Token,
    Amount,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    Token,
    Kind,
    Amount,
    BalanceAfter,
    Reference,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Promocodes {
    Table,
    Code,
    Bytes,
    MaxRedemptions,
    Redemptions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PromocodeRedemptions {
    Table,
    Id,
    Code,
    Token,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AddressNonces {
    Table,
    Address,
    Nonce,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SiweNonces {
    Table,
    Nonce,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Address,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .col(string_len(AccessTokens::Token, 32).primary_key())
                    .col(string_len_null(AccessTokens::OwnerAddress, 42))
                    .col(big_integer(AccessTokens::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_tokens_owner")
                    .table(AccessTokens::Table)
                    .col(AccessTokens::OwnerAddress)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Balances::Table)
                    .col(string_len(Balances::Token, 32).primary_key())
                    .col(big_integer(Balances::Amount).check(Expr::col(Balances::Amount).gte(0)))
                    .col(big_integer(Balances::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Balances::Table, Balances::Token)
                            .to(AccessTokens::Table, AccessTokens::Token),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(big_pk_auto(LedgerEntries::Id))
                    .col(string_len(LedgerEntries::Token, 32))
                    .col(string_len(LedgerEntries::Kind, 16))
                    .col(big_integer(LedgerEntries::Amount))
                    .col(big_integer(LedgerEntries::BalanceAfter))
                    .col(string_len_null(LedgerEntries::Reference, 128))
                    .col(big_integer(LedgerEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LedgerEntries::Table, LedgerEntries::Token)
                            .to(AccessTokens::Table, AccessTokens::Token),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_entries_token_id")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::Token)
                    .col(LedgerEntries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Promocodes::Table)
                    .col(string_len(Promocodes::Code, 64).primary_key())
                    .col(big_integer(Promocodes::Bytes))
                    .col(big_integer_null(Promocodes::MaxRedemptions))
                    .col(big_integer(Promocodes::Redemptions).default(0))
                    .col(big_integer(Promocodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PromocodeRedemptions::Table)
                    .col(big_pk_auto(PromocodeRedemptions::Id))
                    .col(string_len(PromocodeRedemptions::Code, 64))
                    .col(string_len(PromocodeRedemptions::Token, 32))
                    .col(big_integer(PromocodeRedemptions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uniq_promocode_redemptions_code_token")
                    .table(PromocodeRedemptions::Table)
                    .col(PromocodeRedemptions::Code)
                    .col(PromocodeRedemptions::Token)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AddressNonces::Table)
                    .col(string_len(AddressNonces::Address, 42).primary_key())
                    .col(string_len(AddressNonces::Nonce, 64))
                    .col(big_integer(AddressNonces::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SiweNonces::Table)
                    .col(string_len(SiweNonces::Nonce, 64).primary_key())
                    .col(big_integer(SiweNonces::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string_len(Sessions::Id, 64).primary_key())
                    .col(string_len(Sessions::Address, 42))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Sessions::Table.into_iden(),
            SiweNonces::Table.into_iden(),
            AddressNonces::Table.into_iden(),
            PromocodeRedemptions::Table.into_iden(),
            Promocodes::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            Balances::Table.into_iden(),
            AccessTokens::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
