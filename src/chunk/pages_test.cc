#include "chunk/pages.h"

#include <gtest/gtest.h>

#include <string>

namespace shoal::chunk {
namespace {

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 251);
  return s;
}

TEST(Pages, AppendAcrossPagesReadsBack) {
  PagePool pool(4, 1024, 256);
  Pages pages(&pool);
  std::string want;
  for (size_t n : {100, 300, 1500, 1, 3000}) {
    std::string part = Pattern(n, static_cast<char>(n));
    pages.Append(part);
    want += part;
  }
  ASSERT_EQ(pages.size(), want.size());
  EXPECT_EQ(pages.ToString(), want);
  std::string out(700, '\0');
  pages.CopyOut(900, 700, out.data());  // crosses the edge at 1024
  EXPECT_EQ(out, want.substr(900, 700));
}

TEST(Pages, SmallBytesDoNotTakeAPage) {
  PagePool pool(4, 1024, 256);
  {
    Pages small(&pool);
    small.Append(std::string(200, 'x'));
    Pages big(&pool);
    big.Append(std::string(2048, 'y'));
  }
  // Only the big one's two pages were pages; the small string was freed.
  EXPECT_EQ(pool.idle(), 2u);
}

TEST(Pages, PoolKeepsAtMostMaxIdleAndReusesThem) {
  PagePool pool(2, 1024, 256);
  {
    Pages pages(&pool);
    pages.Append(std::string(5 * 1024, 'z'));
  }
  EXPECT_EQ(pool.idle(), 2u);
  std::string page = pool.Take();
  EXPECT_TRUE(page.empty());
  EXPECT_EQ(page.capacity(), 1024u);
  EXPECT_EQ(pool.idle(), 1u);
  pool.Give(std::string(10, 'n'));  // not a page: dropped
  EXPECT_EQ(pool.idle(), 1u);
}

TEST(Pages, OverwriteChangesOnlyItsRange) {
  PagePool pool(4, 1024, 256);
  Pages pages(&pool);
  std::string want = Pattern(3000, 'a');
  pages.Append(want);
  std::string patch(500, '#');
  pages.Overwrite(800, patch);
  want.replace(800, 500, patch);
  EXPECT_EQ(pages.ToString(), want);
}

TEST(Pages, ViewIsAPageOrACopy) {
  PagePool pool(4, 1024, 256);
  Pages pages(&pool);
  std::string want = Pattern(3000, 'k');
  pages.Append(want);
  std::string scratch;
  std::string_view inside = pages.View(1024, 1024, &scratch);
  EXPECT_EQ(inside, want.substr(1024, 1024));
  EXPECT_TRUE(scratch.empty()) << "a range within one page must not be copied";
  std::string_view across = pages.View(1000, 100, &scratch);
  EXPECT_EQ(across, want.substr(1000, 100));
  EXPECT_EQ(across.data(), scratch.data()) << "a range across pages is copied to scratch";
}

TEST(Pages, TakeMovesAlignedPagesAndCopiesOthers) {
  PagePool pool(4, 1024, 256);
  Pages pages(&pool);
  std::string want = Pattern(4000, 'q');
  pages.Append(want);
  // From the end back, as WriteBuffer::Drain does.
  Pages tail = pages.Take(2500, 4000);  // not on a page edge: a copy
  EXPECT_EQ(tail.ToString(), want.substr(2500));
  EXPECT_EQ(pages.size(), 4000u) << "a copy leaves the source whole";
  Pages middle = pages.Take(1024, 2500);  // on a page edge: the pages move
  EXPECT_EQ(middle.ToString(), want.substr(1024, 2500 - 1024));
  EXPECT_EQ(pages.size(), 1024u);
  EXPECT_EQ(pages.ToString(), want.substr(0, 1024));
}

TEST(Pages, ShrinkDropsPagesAndCutsTheLast) {
  PagePool pool(4, 1024, 256);
  Pages pages(&pool);
  std::string want = Pattern(3500, 'm');
  pages.Append(want);
  pages.Shrink(1500);
  EXPECT_EQ(pages.ToString(), want.substr(0, 1500));
  EXPECT_EQ(pool.idle(), 2u);
  pages.Append(Pattern(10, 'r'));
  EXPECT_EQ(pages.ToString(), want.substr(0, 1500) + Pattern(10, 'r'));
  pages.Shrink(0);
  EXPECT_TRUE(pages.empty());
}

TEST(Pages, MoveHandsOverThePages) {
  PagePool pool(4, 1024, 256);
  Pages a(&pool);
  a.Append(Pattern(2000, 'c'));
  Pages b = std::move(a);
  EXPECT_EQ(b.size(), 2000u);
  EXPECT_EQ(b.ToString(), Pattern(2000, 'c'));
  Pages c(&pool);
  c.Append(std::string(1500, 'd'));
  c = std::move(b);  // c's own pages go back to the pool
  EXPECT_EQ(c.ToString(), Pattern(2000, 'c'));
  EXPECT_EQ(pool.idle(), 2u);
}

}  // namespace
}  // namespace shoal::chunk
