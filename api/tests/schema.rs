//! What a browser client relies on in the committed schema (kept equal to the served one by
//! `committed_schema_matches_the_built_one`): every type and field is described, no value that
//! can pass 2^31 − 1 is a 32-bit `Int`, and a chain id has one type everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_graphql::parser::{
    parse_schema,
    types::{BaseType, ServiceDocument, Type, TypeKind, TypeSystemDefinition},
};

/// `Int` fields and arguments, as `Type.field` or `Type.field(argument)`, whose values are
/// bounded far below 2^31 − 1. Anything else that is an `Int` fails the test below.
const BOUNDED_INTS: &[&str] = &[
    // Page sizes: at most 1,000.
    "*(first)",
    // Positions and small counts.
    "ComputeEnvironment.cpuNumber",
    "ComputeEnvironment.currentJobs",
    "ComputeEnvironment.maxJobs",
    "ComputeEnvironment.ramGb",
    "ComputeEnvironment.diskGb",
    "ComputeResult.index",
    "ComputeJob.logTail(bytes)",
    // Runs of a piece computation: at most `jobs.max_retries` + 1 before the sweep fails it.
    "PieceComputation.attempts",
    // Status codes (DBS and Ocean compute).
    "ComputeJob.status",
    "Quote.status",
    "Subscription.quoteStatus",
    // At most `dbs.max_files`.
    "Quote.fileCount",
    // Signature recovery id (27 or 28).
    "ProviderFeeObject.v",
    // Dataset ids are 32-bit in delta-dm's schema.
    "*(datasetId)",
    "*(datasetIds)",
    "*(id)",
    "Dataset.id",
    "Content.datasetId",
    "PieceComputation.datasetId",
    "Replication.datasetId",
    "ReplicationProfile.datasetId",
    "Wallet.datasetIds",
    "ReplicationFilter.datasetIds",
    "Replication.id",
    "Mutation.createDataset",
    "Mutation.updateDataset",
    // Bounded by the deal engine: 1 to 10,000 deals, 1 to 14 days.
    "Mutation.createReplications(numDeals)",
    "Mutation.createReplications(delayStartDays)",
];

fn committed() -> ServiceDocument {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
        .expect("schema.graphql is committed at the workspace root");
    parse_schema(sdl).expect("schema.graphql parses")
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Every `(path, type name)` of a field, input field or argument in the schema.
fn typed_paths(doc: &ServiceDocument) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let owner = t.node.name.node.as_str();
        match &t.node.kind {
            TypeKind::Object(o) => {
                for f in &o.fields {
                    let field = f.node.name.node.as_str();
                    out.push((
                        format!("{owner}.{field}"),
                        field.to_owned(),
                        named(&f.node.ty.node).to_owned(),
                    ));
                    for a in &f.node.arguments {
                        let arg = a.node.name.node.as_str();
                        out.push((
                            format!("{owner}.{field}({arg})"),
                            arg.to_owned(),
                            named(&a.node.ty.node).to_owned(),
                        ));
                    }
                }
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    let field = f.node.name.node.as_str();
                    out.push((
                        format!("{owner}.{field}"),
                        field.to_owned(),
                        named(&f.node.ty.node).to_owned(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_type_field_and_enum_value_is_described() {
    let doc = committed();
    let mut missing = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let owner = t.node.name.node.as_str();
        if t.node.description.is_none() {
            missing.push(owner.to_owned());
        }
        match &t.node.kind {
            TypeKind::Object(o) => missing.extend(
                o.fields
                    .iter()
                    .filter(|f| f.node.description.is_none())
                    .map(|f| format!("{owner}.{}", f.node.name.node)),
            ),
            TypeKind::InputObject(i) => missing.extend(
                i.fields
                    .iter()
                    .filter(|f| f.node.description.is_none())
                    .map(|f| format!("{owner}.{}", f.node.name.node)),
            ),
            TypeKind::Enum(e) => missing.extend(
                e.values
                    .iter()
                    .filter(|v| v.node.description.is_none())
                    .map(|v| format!("{owner}.{}", v.node.value.node)),
            ),
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "undescribed in schema.graphql: {missing:#?}"
    );
}

#[test]
fn no_value_that_can_pass_two_to_the_31_is_an_int() {
    let doc = committed();
    let allowed = |path: &str, name: &str| {
        BOUNDED_INTS
            .iter()
            .any(|entry| match entry.strip_prefix('*') {
                // "*(arg)": that argument on any field.
                Some(arg) => path.ends_with(')') && *arg == format!("({name})"),
                None => *entry == path,
            })
    };
    let unbounded: Vec<String> = typed_paths(&doc)
        .into_iter()
        .filter(|(path, name, ty)| ty == "Int" && !allowed(path, name))
        .map(|(path, _, _)| path)
        .collect();
    assert!(
        unbounded.is_empty(),
        "these are 32-bit Int but not known to be bounded; use Long, Timestamp or ChainId \
         (or add them to BOUNDED_INTS with the reason): {unbounded:#?}"
    );
    // The scalars that replace them are in the schema, described.
    for scalar in ["Long", "Timestamp", "ChainId"] {
        assert!(
            doc.definitions.iter().any(|d| matches!(d,
                TypeSystemDefinition::Type(t)
                    if t.node.name.node == scalar
                        && matches!(t.node.kind, TypeKind::Scalar)
                        && t.node.description.is_some())),
            "scalar {scalar} is missing or undescribed"
        );
    }
}

#[test]
fn a_chain_id_has_one_type_across_the_schema() {
    let doc = committed();
    let chain_ids: Vec<(String, String)> = typed_paths(&doc)
        .into_iter()
        .filter(|(_, name, _)| name == "chainId")
        .map(|(path, _, ty)| (path, ty))
        .collect();
    assert!(
        chain_ids.len() >= 4,
        "quotes, payment options, assets and compute environments name chains: {chain_ids:?}"
    );
    let wrong: Vec<_> = chain_ids.iter().filter(|(_, ty)| ty != "ChainId").collect();
    assert!(wrong.is_empty(), "chainId not typed ChainId: {wrong:?}");
}
