//! The builder: a parsed Dockerfile and a context -> an image in the store.
