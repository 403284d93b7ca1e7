# shellcheck shell=bash
# File-system workloads for the bench scripts, in Perl (in every Debian
# install): one process per workload, plain system calls, timed inside the
# process, so no process start-up or shell loop lands in the figures. Sourced,
# not run; needs common.sh.
#
#   wl_init DIR                     writes the Perl program to DIR/workloads.pl
#   wl big-write FILE BYTES         1 MiB writes, then fsync and close
#   wl big-read FILE BYTES          1 MiB reads to the end (checks the size)
#   wl small-write DIR COUNT SIZE   COUNT files: open, one write, close
#   wl small-read DIR COUNT SIZE    the same files: open, read to the end, close
#   wl stat-create DIR COUNT N      COUNT empty files: open(O_CREAT), close, by N processes
#   wl stat-pass DIR                readdir, then lstat of every name
#   wl s3-put-empty BUCKET_URL PREFIX COUNT N   COUNT empty objects, N processes
#
# Each prints one line: seconds, then (stat-pass) names seen and failures.
# Data is random (8 distinct random MiBs, each block stamped with its index),
# so nothing compresses or deduplicates: no target gets an edge from its data.
# Files are named f000000... (small) and s000000... (stat).

WL_PL=""

wl_init() {
  WL_PL=$1/workloads.pl
  cat >"$WL_PL" <<'PERL'
use strict;
use warnings;
use Fcntl qw(O_WRONLY O_CREAT O_TRUNC O_RDONLY);
use IO::Handle;
use Time::HiRes qw(time);

my $MIB = 1 << 20;
my $POOL_BLOCKS = 8;

# 8 MiB of random bytes, as 8 blocks of 1 MiB.
sub random_blocks {
  open(my $in, '<:raw', '/dev/urandom') or die "cannot open /dev/urandom: $!\n";
  my @blocks;
  for (1 .. $POOL_BLOCKS) {
    my $buf = '';
    while (length($buf) < $MIB) {
      my $n = sysread($in, $buf, $MIB - length($buf), length($buf));
      die "reading /dev/urandom: $!\n" unless $n;
    }
    push @blocks, $buf;
  }
  close($in);
  return @blocks;
}

sub write_all {
  my ($fh, $path) = @_;
  my $off = 0;
  my $len = length($_[2]);
  while ($off < $len) {
    my $n = syswrite($fh, $_[2], $len - $off, $off);
    die "write to $path failed: $!\n" unless defined $n;
    $off += $n;
  }
}

sub read_all {
  my ($path, $bufsize) = @_;
  sysopen(my $fh, $path, O_RDONLY) or die "cannot open $path: $!\n";
  my ($buf, $total) = ('', 0);
  while (1) {
    my $n = sysread($fh, $buf, $bufsize);
    die "read of $path failed: $!\n" unless defined $n;
    last if $n == 0;
    $total += $n;
  }
  close($fh) or die "close of $path failed: $!\n";
  return $total;
}

my ($cmd, @args) = @ARGV;
die "usage: workloads.pl COMMAND ARGS\n" unless defined $cmd;

if ($cmd eq 'big-write') {
  my ($path, $bytes) = @args;
  my @blocks = random_blocks();
  my $t0 = time;
  sysopen(my $fh, $path, O_WRONLY | O_CREAT | O_TRUNC, 0644) or die "cannot create $path: $!\n";
  my $written = 0;
  my $i = 0;
  while ($written < $bytes) {
    my $len = $bytes - $written < $MIB ? $bytes - $written : $MIB;
    my $b = \$blocks[$i % $POOL_BLOCKS];
    substr($$b, 0, 8) = pack('Q<', $i);  # every block unique
    write_all($fh, $path, $len == $MIB ? $$b : substr($$b, 0, $len));
    $written += $len;
    $i++;
  }
  $fh->sync or die "fsync of $path failed: $!\n";
  close($fh) or die "close of $path failed: $!\n";
  printf "%.6f\n", time - $t0;
} elsif ($cmd eq 'big-read') {
  my ($path, $bytes) = @args;
  my $t0 = time;
  my $total = read_all($path, $MIB);
  my $t = time - $t0;
  die "$path: read $total bytes, expected $bytes\n" unless $total == $bytes;
  printf "%.6f\n", $t;
} elsif ($cmd eq 'small-write') {
  my ($dir, $count, $size) = @args;
  my @blocks = random_blocks();
  my $per_block = int($MIB / $size) || 1;
  my $t0 = time;
  for my $i (0 .. $count - 1) {
    my $path = sprintf('%s/f%06d', $dir, $i);
    my $b = \$blocks[int($i / $per_block) % $POOL_BLOCKS];
    my $off = ($i % $per_block) * $size;
    $off = 0 if $off + $size > $MIB;
    my $data = substr($$b, $off, $size);
    substr($data, 0, 8) = pack('Q<', $i) if $size >= 8;
    sysopen(my $fh, $path, O_WRONLY | O_CREAT | O_TRUNC, 0644)
        or die "cannot create $path: $!\n";
    write_all($fh, $path, $data);
    close($fh) or die "close of $path failed: $!\n";
  }
  printf "%.6f\n", time - $t0;
} elsif ($cmd eq 'small-read') {
  my ($dir, $count, $size) = @args;
  my $t0 = time;
  for my $i (0 .. $count - 1) {
    my $path = sprintf('%s/f%06d', $dir, $i);
    my $n = read_all($path, $size < 65536 ? 65536 : $size);
    die "$path: read $n bytes, expected $size\n" unless $n == $size;
  }
  printf "%.6f\n", time - $t0;
} elsif ($cmd eq 'stat-create') {
  my ($dir, $count, $workers) = @args;
  $workers ||= 1;
  my $t0 = time;
  my @pids;
  for my $w (0 .. $workers - 1) {
    my $pid = fork();
    die "fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
      for (my $i = $w; $i < $count; $i += $workers) {
        my $path = sprintf('%s/s%06d', $dir, $i);
        sysopen(my $fh, $path, O_WRONLY | O_CREAT | O_TRUNC, 0644)
            or die "cannot create $path: $!\n";
        close($fh) or die "close of $path failed: $!\n";
      }
      exit 0;
    }
    push @pids, $pid;
  }
  my $failed = 0;
  for my $pid (@pids) {
    waitpid($pid, 0);
    $failed++ if $? != 0;
  }
  die "$failed of $workers creating processes failed\n" if $failed;
  printf "%.6f\n", time - $t0;
} elsif ($cmd eq 's3-put-empty') {
  # Empty objects PREFIXsNNNNNN in a bucket of an S3 server that takes
  # unsigned requests (s3rver), with the metadata headers s3fs gives the files
  # it creates, so that s3fs sees them as its own regular files.
  my ($base, $prefix, $count, $workers) = @args;
  require HTTP::Tiny;
  $workers ||= 1;
  my $t0 = time;
  my $stamp = int($t0);
  my %headers = (
    'content-type' => 'application/octet-stream', 'x-amz-meta-mode' => '33188',
    'x-amz-meta-uid' => '0', 'x-amz-meta-gid' => '0', 'x-amz-meta-mtime' => $stamp,
    'x-amz-meta-ctime' => $stamp, 'x-amz-meta-atime' => $stamp,
  );
  my @pids;
  for my $w (0 .. $workers - 1) {
    my $pid = fork();
    die "fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
      my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60);
      for (my $i = $w; $i < $count; $i += $workers) {
        my $url = sprintf('%s/%ss%06d', $base, $prefix, $i);
        my $res;
        for my $try (1 .. 5) {  # s3rver restarts after a crash: retry
          $res = $http->request('PUT', $url, { headers => \%headers, content => '' });
          last if $res->{success};
          select(undef, undef, undef, 0.2);
        }
        die "PUT $url: $res->{status} $res->{reason}\n" unless $res->{success};
      }
      exit 0;
    }
    push @pids, $pid;
  }
  my $failed = 0;
  for my $pid (@pids) {
    waitpid($pid, 0);
    $failed++ if $? != 0;
  }
  die "$failed of $workers uploading processes failed\n" if $failed;
  printf "%.6f\n", time - $t0;
} elsif ($cmd eq 'stat-pass') {
  my ($dir) = @args;
  my $t0 = time;
  opendir(my $dh, $dir) or die "cannot open directory $dir: $!\n";
  my @names = grep { $_ ne '.' && $_ ne '..' } readdir($dh);
  closedir($dh);
  my ($failed, $first) = (0, '');
  for my $name (@names) {
    next if lstat("$dir/$name");
    $first = "$name: $!" if !$failed++;
  }
  my $t = time - $t0;
  print STDERR "stat-pass: $failed lstat calls failed, the first: $first\n" if $failed;
  printf "%.6f %d %d\n", $t, scalar(@names), $failed;
} else {
  die "unknown workload $cmd\n";
}
PERL
}

wl() {
  perl "$WL_PL" "$@"
}
