//! A cache of parsed query documents by their text. A web app sends the same few documents
//! over and over with different variables; parsing one (a pest grammar) costs more than the
//! rest of a simple query's execution, while cloning the parsed tree is cheap. Validation
//! still runs on every request, as it depends on the schema's limits and the variables.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::{
    ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::ExecutableDocument,
};

/// Documents kept at most; past it the cache starts over (a client inventing new documents
/// cannot grow it without bound).
const MAX_DOCUMENTS: usize = 512;
/// Longer documents are parsed every time rather than held.
const MAX_CACHED_LEN: usize = 16 * 1024;

#[derive(Default, Clone)]
pub struct ParseCache {
    documents: Arc<Mutex<HashMap<String, ExecutableDocument>>>,
}

impl ExtensionFactory for ParseCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for ParseCache {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = self
            .documents
            .lock()
            .ok()
            .and_then(|d| d.get(query).cloned())
        {
            return Ok(document);
        }
        // Only documents that parsed are kept; an error is produced afresh each time.
        let document = next.run(ctx, query, variables).await?;
        if query.len() <= MAX_CACHED_LEN
            && let Ok(mut documents) = self.documents.lock()
        {
            if documents.len() >= MAX_DOCUMENTS {
                documents.clear();
            }
            documents.insert(query.to_string(), document.clone());
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn echo(&self, text: String) -> String {
            text
        }
    }

    #[tokio::test]
    async fn a_cached_document_answers_with_each_requests_own_variables() {
        let cache = ParseCache::default();
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(cache.clone())
            .finish();
        let query = "query Echo($t: String!) { echo(text: $t) }";
        for text in ["first", "second"] {
            let request = async_graphql::Request::new(query)
                .variables(Variables::from_json(serde_json::json!({ "t": text })));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            assert_eq!(
                response.data.into_json().ok(),
                Some(serde_json::json!({ "echo": text }))
            );
        }
        assert_eq!(cache.documents.lock().map(|d| d.len()).ok(), Some(1));

        // A document that does not parse is answered with its error every time, and not kept.
        for _ in 0..2 {
            let response = schema.execute("query { echo(").await;
            assert!(!response.errors.is_empty());
        }
        assert_eq!(cache.documents.lock().map(|d| d.len()).ok(), Some(1));
    }
}
