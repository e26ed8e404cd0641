package core

// Version is the netsys library version, MAJOR.MINOR.PATCH. The repository's
// VERSION file is its single source; this copy exists because Go cannot read
// a file above its package at build time, and a test (and `make
// test-version`) fails if the two disagree.
const Version = "1.2.0"
