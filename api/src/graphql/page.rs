//! Relay-style connections (pages of a list with cursors), one named pair of types per list.
//!
//! async-graphql's generic `Connection` cannot carry a description of its own; these carry
//! one, with the same fields clients already select (`edges`, `nodes`, `pageInfo`, and
//! `totalCount` where the list is counted).

use async_graphql::connection::PageInfo;

/// The page info of a page whose edges have the given cursors.
pub(crate) fn page_info<'a>(
    mut cursors: impl DoubleEndedIterator<Item = &'a str>,
    has_previous_page: bool,
    has_next_page: bool,
) -> PageInfo {
    let start_cursor = cursors.next().map(str::to_owned);
    let end_cursor = cursors
        .next_back()
        .map(str::to_owned)
        .or(start_cursor.clone());
    PageInfo {
        has_previous_page,
        has_next_page,
        start_cursor,
        end_cursor,
    }
}

/// Defines `$conn` (a page of `$node`s) and `$edge` (one `$node` with its cursor). With
/// `counted`, the connection also tells how many items the whole list holds.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty, $doc:literal, $edge_doc:literal) => {
        pub struct $conn {
            pub edges: Vec<$edge>,
            has_previous_page: bool,
            has_next_page: bool,
        }

        impl $conn {
            pub fn new(has_previous_page: bool, has_next_page: bool) -> Self {
                Self {
                    edges: Vec::new(),
                    has_previous_page,
                    has_next_page,
                }
            }
        }

        #[doc = $doc]
        #[async_graphql::Object]
        impl $conn {
            /// Whether items come before and after this page, and the cursors at its ends.
            async fn page_info(&self) -> async_graphql::connection::PageInfo {
                $crate::graphql::page::page_info(
                    self.edges.iter().map(|e| e.cursor.as_str()),
                    self.has_previous_page,
                    self.has_next_page,
                )
            }

            /// The items of this page, each with its cursor.
            async fn edges(&self) -> Vec<&$edge> {
                self.edges.iter().collect()
            }

            /// The items of this page, without cursors.
            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|e| &e.node).collect()
            }
        }

        $crate::graphql::page::connection!(@edge $edge, $node, $edge_doc);
    };
    ($conn:ident, $edge:ident, $node:ty, $doc:literal, $edge_doc:literal, counted) => {
        pub struct $conn {
            pub edges: Vec<$edge>,
            has_previous_page: bool,
            has_next_page: bool,
            total_count: u64,
        }

        impl $conn {
            pub fn new(has_previous_page: bool, has_next_page: bool, total_count: u64) -> Self {
                Self {
                    edges: Vec::new(),
                    has_previous_page,
                    has_next_page,
                    total_count,
                }
            }
        }

        #[doc = $doc]
        #[async_graphql::Object]
        impl $conn {
            /// Whether items come before and after this page, and the cursors at its ends.
            async fn page_info(&self) -> async_graphql::connection::PageInfo {
                $crate::graphql::page::page_info(
                    self.edges.iter().map(|e| e.cursor.as_str()),
                    self.has_previous_page,
                    self.has_next_page,
                )
            }

            /// The items of this page, each with its cursor.
            async fn edges(&self) -> Vec<&$edge> {
                self.edges.iter().collect()
            }

            /// The items of this page, without cursors.
            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|e| &e.node).collect()
            }

            /// How many items the whole list holds, across all pages.
            async fn total_count(&self) -> $crate::graphql::scalars::Long {
                self.total_count.into()
            }
        }

        $crate::graphql::page::connection!(@edge $edge, $node, $edge_doc);
    };
    (@edge $edge:ident, $node:ty, $edge_doc:literal) => {
        #[doc = $edge_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// Pass as `after` to fetch the items that follow this one.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        impl $edge {
            pub fn new(cursor: String, node: $node) -> Self {
                Self { cursor, node }
            }
        }
    };
}

pub(crate) use connection;
