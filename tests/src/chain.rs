//! A local EVM chain for payment tests: ganache from npm (deterministic accounts, chain id
//! 1337) on a free port, with our TestToken ERC-20 deployed and funded.
use std::{path::Path, process::Stdio, str::FromStr, time::Duration};

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, SolValue, sol};
use tokio::process::{Child, Command};

sol! {
    contract TestToken {
        event Transfer(address indexed from, address indexed to, uint256 value);
        function mint(address to, uint256 value) external;
        function approve(address spender, uint256 value) external returns (bool);
        function transfer(address to, uint256 value) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function setFailTransfersFrom(bool fail) external;
    }
}

/// ganache's deterministic accounts (mnemonic "myth like bonus scare ...").
pub const KEYS: [&str; 10] = [
    "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d",
    "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1",
    "0x6370fd033278c143179d81c5526140625662b8daa446c22ee2d73db3707e620c",
    "0x646f1ce2fdad0e6deeeb5c7e8e5543bdde65e86029e2fd9fc169899c440a7913",
    "0xadd53f9a7e588d003326d1cbf9e4a43c061aadd9bc938c843a79e7b4fd2ad743",
    "0x395df67f0c2d2d9fe1ad08d1bc8b6627011959b79c53d7dd6a3536a33ab8a4fd",
    "0xe485d098507f54e7733a205420dfddbe58db035fa577fc294ebd14db90767a52",
    "0xa453611d9419d0e56f499079478fd72c37b251a94bfde4d19872c44cf65386e3",
    "0x829e924fdf021ba3dbbc4225edfece9aca04b929d6e75613329ca6f1d31c0bb4",
    "0xb0057716d5917badaf911b193b12b910811c1497b5bada8d7711f758981c3773",
];
/// Account 0 is the treasury, 9 deploys the token; users are 1-8.
pub const TREASURY: usize = 0;
const DEPLOYER: usize = 9;

pub fn signer(index: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_str(KEYS[index]).expect("a valid test key")
}

pub struct Chain {
    child: Child,
    pub url: String,
    pub token: Address,
}

impl Chain {
    /// Starts ganache, deploys TestToken and mints 1,000,000 tokens (18 decimals) to each user.
    pub async fn start() -> Chain {
        crate::ensure_npm_packages();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
        let child = Command::new("node")
            .arg(js.join("node_modules/ganache/dist/node/cli.js"))
            .args([
                "--chain.chainId=1337",
                "--wallet.deterministic=true",
                "--server.host=127.0.0.1",
                &format!("--server.port={port}"),
                "--logging.quiet=true",
                "--chain.hardfork=shanghai",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed");
        let url = format!("http://127.0.0.1:{port}");
        let provider = ProviderBuilder::new().connect_http(url.parse().unwrap());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while provider.get_chain_id().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "ganache did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let accounts = provider.get_accounts().await.unwrap();
        for (i, account) in accounts.iter().enumerate().take(10) {
            assert_eq!(
                *account,
                signer(i).address(),
                "ganache account {i} has another key"
            );
        }
        let artifact: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/TestToken.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let mut code = hex::decode(
            artifact["bytecode"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        code.extend(
            (
                "Ocean Token".to_string(),
                "OCEAN".to_string(),
                U256::from(18u8),
            )
                .abi_encode_params(),
        );
        let mut chain = Chain {
            child,
            url,
            token: Address::ZERO,
        };
        let deploy = TransactionRequest::default().with_deploy_code(Bytes::from(code));
        let receipt = chain
            .wallet(DEPLOYER)
            .send_transaction(deploy)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        chain.token = receipt.contract_address.expect("deployed");
        for user in 1..=8 {
            chain
                .send(
                    DEPLOYER,
                    TestToken::mintCall {
                        to: signer(user).address(),
                        value: tokens(1_000_000),
                    }
                    .abi_encode(),
                )
                .await;
        }
        chain
    }

    fn wallet(&self, index: usize) -> impl Provider + use<> {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer(index)))
            .connect_http(self.url.parse().unwrap())
    }

    async fn send(&self, from: usize, data: Vec<u8>) -> B256 {
        let tx = TransactionRequest::default()
            .with_to(self.token)
            .with_input(Bytes::from(data));
        let receipt = self
            .wallet(from)
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "transaction from account {from} reverted");
        receipt.transaction_hash
    }

    /// The user approves `spender` for `amount`, as a browser wallet would.
    pub async fn approve(&self, user: usize, spender: Address, amount: U256) {
        self.send(
            user,
            TestToken::approveCall {
                spender,
                value: amount,
            }
            .abi_encode(),
        )
        .await;
    }

    pub async fn transfer(&self, from: usize, to: Address, amount: U256) {
        self.send(
            from,
            TestToken::transferCall { to, value: amount }.abi_encode(),
        )
        .await;
    }

    pub async fn set_fail_transfers_from(&self, fail: bool) {
        self.send(
            DEPLOYER,
            TestToken::setFailTransfersFromCall { fail }.abi_encode(),
        )
        .await;
    }

    pub async fn balance(&self, owner: Address) -> U256 {
        let provider = ProviderBuilder::new().connect_http(self.url.parse().unwrap());
        let data = TestToken::balanceOfCall { owner }.abi_encode();
        let out = provider
            .call(
                TransactionRequest::default()
                    .with_to(self.token)
                    .with_input(Bytes::from(data)),
            )
            .await
            .unwrap();
        U256::from_be_slice(&out[..32])
    }

    /// Transfer events of the token from `from` to `to`.
    pub async fn transfers(&self, from: Address, to: Address) -> Vec<U256> {
        let provider = ProviderBuilder::new().connect_http(self.url.parse().unwrap());
        let filter = Filter::new()
            .address(self.token)
            .event_signature(TestToken::Transfer::SIGNATURE_HASH)
            .from_block(0);
        provider
            .get_logs(&filter)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|log| TestToken::Transfer::decode_log(&log.inner).ok())
            .filter(|t| t.from == from && t.to == to)
            .map(|t| t.value)
            .collect()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops mining: transactions stay pending until `start_mining`.
    pub async fn stop_mining(&self) {
        self.rpc("miner_stop").await;
    }

    pub async fn start_mining(&self) {
        self.rpc("miner_start").await;
    }

    async fn rpc(&self, method: &'static str) {
        let provider = ProviderBuilder::new().connect_http(self.url.parse().unwrap());
        let _: serde_json::Value = provider
            .raw_request(method.into(), ())
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
    }
}

/// Whole tokens in the smallest unit (18 decimals).
pub fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u8))
}
