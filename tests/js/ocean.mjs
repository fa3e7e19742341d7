// Ocean Protocol on a local chain, driven by ocean.js 3.2 (@oceanprotocol/lib) unmodified, for
// wharf's Provider tests. Prints one JSON object per command.
//
//   node ocean.mjs deploy  <rpc> <deployer key>
//       Ocean's contracts from @oceanprotocol/contracts: token, fee collector, router,
//       ERC721/ERC20 templates and the ERC721Factory registered with the router.
//   node ocean.mjs publish <rpc> <publisher key> <factory> <provider url> <chain id>
//                          <consumer address> <service timeout s> <file object JSON>
//       A data NFT with a datatoken, files and DDO encrypted by the provider, metadata set on
//       chain, and datatokens minted to the consumer.
//   node ocean.mjs order   <rpc> <consumer key> <provider url> <did> <service id> <datatoken>
//       initialize at the provider, then startOrder with the provider fee it gave.
//   node ocean.mjs download <rpc> <consumer key> <provider url> <did> <service id> <order tx>
//       getDownloadUrl (nonce + signature) and fetch, as ocean.js users do.
//   node ocean.mjs fileinfo <rpc> <key> <provider url> <did> <service id> <file object JSON>
//       checkDidFiles and getFileInfo (with checksums), and getNonce.
//   publish takes an optional last argument, JSON: {"serviceType": "compute", "compute": {…}}
//       for a compute dataset, {"type": "algorithm", "algorithm": {…}} for an algorithm.
//   node ocean.mjs compute <rpc> <consumer key> <provider url> <plan JSON>
//       A compute job as ocean.js users run it: computeEnvironments, initializeCompute,
//       orders (startOrder / reuseOrder for the environment's consumer address), computeStart,
//       computeStatus until it ends, getComputeResultUrl and the results; then, as the plan
//       says, computeStop mid-run and computeDelete.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";

// ocean.js 3.2 is loaded with require: its ES module build has imports Node cannot resolve.
const require = createRequire(import.meta.url);
const {
  Datatoken,
  Nft,
  NftFactory,
  ProviderInstance,
  downloadFile,
  getEventFromTx,
  getHash,
} = require("@oceanprotocol/lib");
const { ethers } = require("ethers5");
const artifact = (path) =>
  require(`@oceanprotocol/contracts/artifacts/contracts/${path}`);
const ZERO = "0x0000000000000000000000000000000000000000";
const DEAD = "0x000000000000000000000000000000000000dEaD";

const [command, rpc, key, ...rest] = process.argv.slice(2);
const provider = new ethers.providers.JsonRpcProvider(rpc);
provider.pollingInterval = 100;
const signer = new ethers.Wallet(key, provider);
const out = {};

async function deploy(path, ...args) {
  const { abi, bytecode } = artifact(path);
  const contract = await new ethers.ContractFactory(abi, bytecode, signer).deploy(...args);
  await contract.deployed();
  return contract;
}

try {
  if (command === "deploy") {
    const me = await signer.getAddress();
    const ocean = await deploy("utils/mock/MockOcean.sol/MockOcean.json", me);
    const collector = await deploy(
      "communityFee/OPFCommunityFeeCollector.sol/OPFCommunityFeeCollector.json",
      me,
      me,
    );
    const router = await deploy(
      "pools/FactoryRouter.sol/FactoryRouter.json",
      me,
      ocean.address,
      DEAD,
      collector.address,
      [],
    );
    const erc721 = await deploy("templates/ERC721Template.sol/ERC721Template.json");
    const erc20 = await deploy("templates/ERC20Template.sol/ERC20Template.json");
    const factory = await deploy(
      "ERC721Factory.sol/ERC721Factory.json",
      erc721.address,
      erc20.address,
      router.address,
    );
    await (await router.addFactory(factory.address)).wait();
    Object.assign(out, {
      ocean: ocean.address,
      router: router.address,
      factory: factory.address,
      erc721Template: erc721.address,
      erc20Template: erc20.address,
    });
  } else if (command === "publish") {
    const [factoryAddress, providerUrl, chainText, consumer, timeout, fileJson, extraJson] = rest;
    const extra = extraJson ? JSON.parse(extraJson) : {};
    const chainId = Number(chainText);
    const me = await signer.getAddress();
    const factory = new NftFactory(factoryAddress, signer, chainId);
    const tx = await factory.createNftWithDatatoken(
      {
        name: "Wharf Test Asset",
        symbol: "WTA",
        templateIndex: 1,
        tokenURI: "https://wharf.invalid/nft",
        transferable: true,
        owner: me,
      },
      {
        templateIndex: 1,
        cap: "100000",
        feeAmount: "0",
        paymentCollector: ZERO,
        feeToken: ZERO,
        minter: me,
        mpFeeAddress: ZERO,
      },
    );
    if (!tx) throw new Error("createNftWithDatatoken failed");
    const receipt = await tx.wait();
    const nftAddress = getEventFromTx(receipt, "NFTCreated").args[0];
    const datatoken = getEventFromTx(receipt, "TokenCreated").args[0];
    const files = {
      datatokenAddress: datatoken,
      nftAddress,
      files: [JSON.parse(fileJson)],
    };
    const encryptedFiles = await ProviderInstance.encrypt(files, chainId, providerUrl);
    const did =
      "did:op:" +
      createHash("sha256")
        .update(ethers.utils.getAddress(nftAddress) + chainId.toString(10))
        .digest("hex");
    const ddo = {
      "@context": ["https://w3id.org/did/v1"],
      id: did,
      version: "4.1.0",
      chainId,
      nftAddress,
      metadata: {
        created: "2026-12-01T00:00:00Z",
        updated: "2026-12-01T00:00:00Z",
        type: extra.type ?? "dataset",
        name: "Wharf test dataset",
        description: "A file served through wharf's Provider",
        author: "wharf tests",
        license: "MIT",
        ...(extra.algorithm ? { algorithm: extra.algorithm } : {}),
      },
      services: [
        {
          id: extra.serviceType === "compute" ? "compute-1" : "access-1",
          type: extra.serviceType ?? "access",
          files: encryptedFiles,
          datatokenAddress: datatoken,
          serviceEndpoint: providerUrl,
          timeout: Number(timeout),
          ...(extra.compute ? { compute: extra.compute } : {}),
        },
      ],
    };
    const encryptedDdo = await ProviderInstance.encrypt(ddo, chainId, providerUrl);
    const nft = new Nft(signer, chainId);
    const metadataTx = await nft.setMetadata(
      nftAddress,
      me,
      0,
      providerUrl,
      "",
      "0x02",
      encryptedDdo,
      "0x" + getHash(JSON.stringify(ddo)),
    );
    if (!metadataTx) throw new Error("setMetadata failed");
    const metadataReceipt = await metadataTx.wait();
    const datatokens = new Datatoken(signer, chainId);
    const minted = await datatokens.mint(datatoken, me, "10", consumer);
    if (!minted) throw new Error("mint failed");
    await minted.wait();
    Object.assign(out, {
      did,
      nft: nftAddress,
      datatoken,
      ddo,
      ddoText: JSON.stringify(ddo),
      encryptedDdo,
      metadataTx: metadataReceipt.transactionHash,
    });
  } else if (command === "order") {
    const [providerUrl, did, serviceId, datatoken] = rest;
    const me = await signer.getAddress();
    const initialized = await ProviderInstance.initialize(did, serviceId, 0, me, providerUrl);
    out.initialized = initialized;
    const chainId = (await provider.getNetwork()).chainId;
    const datatokens = new Datatoken(signer, chainId);
    const tx = await datatokens.startOrder(datatoken, me, 0, initialized.providerFee);
    if (!tx) throw new Error("startOrder failed (the contract refused the provider fee?)");
    const receipt = await tx.wait();
    out.orderTx = receipt.transactionHash;
  } else if (command === "download") {
    const [providerUrl, did, serviceId, orderTx] = rest;
    const url = await ProviderInstance.getDownloadUrl(did, serviceId, 0, orderTx, providerUrl, signer);
    out.url = url;
    const { data, filename } = await downloadFile(url);
    out.filename = filename;
    out.length = data.byteLength;
    out.sha256 = createHash("sha256").update(Buffer.from(data)).digest("hex");
  } else if (command === "fileinfo") {
    const [providerUrl, did, serviceId, fileJson] = rest;
    out.did = await ProviderInstance.checkDidFiles(did, serviceId, providerUrl, true);
    out.file = await ProviderInstance.getFileInfo(JSON.parse(fileJson), providerUrl, true);
    out.nonce = await ProviderInstance.getNonce(providerUrl, await signer.getAddress());
  } else if (command === "compute") {
    const [providerUrl, planJson] = rest;
    const plan = JSON.parse(planJson);
    const me = await signer.getAddress();
    const chainId = (await provider.getNetwork()).chainId;
    const envs = await ProviderInstance.getComputeEnvironments(providerUrl);
    out.environments = envs;
    const env = envs[chainId].find((e) => e.id === (plan.environment ?? envs[chainId][0].id));
    const validUntil = Math.floor(Date.now() / 1000) + (plan.minutes ?? 5) * 60;
    const assets = [{ documentId: plan.dataset.did, serviceId: plan.dataset.serviceId }];
    const algo = plan.algorithm.did
      ? { documentId: plan.algorithm.did, serviceId: plan.algorithm.serviceId }
      : { meta: plan.algorithm.meta };
    const initialized = await ProviderInstance.initializeCompute(
      assets, algo, env.id, validUntil, providerUrl, me,
    );
    out.initialized = initialized;
    const datatokens = new Datatoken(signer, chainId);
    // The order helper ocean.js's own compute tests use: reuse a valid order, else start one
    // for the environment's consumer address.
    const order = async (item, datatoken) => {
      if (item.validOrder && !item.providerFee) return item.validOrder;
      if (item.validOrder) {
        const tx = await datatokens.reuseOrder(datatoken, item.validOrder, item.providerFee);
        return (await tx.wait()).transactionHash;
      }
      const tx = await datatokens.startOrder(datatoken, env.consumerAddress, 0, item.providerFee);
      return (await tx.wait()).transactionHash;
    };
    if (plan.algorithm.did) {
      algo.transferTxId = await order(initialized.algorithm, plan.algorithm.datatoken);
    }
    assets[0].transferTxId = await order(initialized.datasets[0], plan.dataset.datatoken);
    out.orders = { dataset: assets[0].transferTxId, algorithm: algo.transferTxId };
    if (plan.orderOnly) {
      console.log(JSON.stringify(out));
      process.exit(0);
    }
    const started = await ProviderInstance.computeStart(providerUrl, signer, env.id, assets[0], algo);
    out.started = started;
    const jobId = (Array.isArray(started) ? started[0] : started).jobId;
    out.jobId = jobId;
    out.statuses = [];
    const deadline = Date.now() + (plan.timeoutSecs ?? 120) * 1000;
    let job;
    while (Date.now() < deadline) {
      const status = await ProviderInstance.computeStatus(providerUrl, me, jobId);
      job = Array.isArray(status) ? status[0] : status;
      if (!out.statuses.includes(job.status)) out.statuses.push(job.status);
      if (plan.stopAt && job.status >= plan.stopAt && !out.stopped) {
        out.stopped = await ProviderInstance.computeStop(plan.dataset.did, me, jobId, providerUrl, signer);
      }
      if (job.status === 70) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    out.job = job;
    out.results = [];
    for (let i = 0; i < (job?.results?.length ?? 0); i++) {
      const url = await ProviderInstance.getComputeResultUrl(providerUrl, signer, jobId, i);
      const response = await fetch(url);
      out.results.push({ status: response.status, body: await response.text() });
    }
    if (plan.delete) {
      out.deleted = await ProviderInstance.computeDelete(plan.dataset.did, signer, jobId, providerUrl);
      out.afterDelete = await ProviderInstance.computeStatus(providerUrl, me, jobId);
    }
  } else {
    throw new Error(`unknown command ${command}`);
  }
} catch (e) {
  out.error = String(e?.message ?? e);
}
console.log(JSON.stringify(out));
process.exit(0);
