// The translation unit that builds the tests' precompiled header (see
// shoal_test_pch in the top-level CMakeLists.txt); it holds no code.
