# shellcheck shell=bash
# Turns bench/peers.sh's raw results into a markdown report and a JSON file.
# Sourced, not run.
#
#   report_write DIR MD_OUT JSON_OUT
#
# DIR holds tab-separated files written during the run:
#   meta.tsv     KEY  VALUE                  (run facts: date, machine, sizes)
#   targets.tsv  TARGET  STATUS              (ok, failed, skipped)
#   desc.tsv     TARGET  KEY  TEXT           (setup, cold, in store)
#   results.tsv  TARGET  METRIC  UNIT  VALUE (one line per repetition)
#   notes.tsv    TARGET  TEXT
# Ratios are shoal / peer on medians; the ratio list is in the program below.

report_write() {
  local dir=$1 md=$2 json=$3
  perl - "$dir" "$md" "$json" <<'PERL'
use strict;
use warnings;
use JSON::PP;

my ($dir, $md_path, $json_path) = @ARGV;

sub rows {
  my ($file) = @_;
  my @rows;
  open(my $fh, '<', "$dir/$file") or return ();
  while (my $line = <$fh>) {
    chomp $line;
    next if $line eq '';
    push @rows, [split /\t/, $line, -1];
  }
  return @rows;
}

sub median {
  my @v = sort { $a <=> $b } grep { defined && $_ ne 'NA' && $_ ne '' } @_;
  return undef unless @v;
  my $n = @v;
  return $n % 2 ? $v[($n - 1) / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2;
}

sub fmt {
  my ($v) = @_;
  return '–' unless defined $v;
  my $a = abs($v);
  my $s = $a >= 100 ? sprintf('%.0f', $v) : $a >= 10 ? sprintf('%.1f', $v)
        : $a >= 1 ? sprintf('%.2f', $v) : sprintf('%.3f', $v);
  1 while $s =~ s/^(-?\d+)(\d{3})/$1,$2/;
  return $s;
}

my %meta = map { $_->[0] => $_->[1] } rows('meta.tsv');
my @targets;
my %status;
for my $r (rows('targets.tsv')) {
  push @targets, $r->[0] unless exists $status{$r->[0]};
  $status{$r->[0]} = $r->[1];
}
my %desc;
$desc{$_->[0]}{$_->[1]} = $_->[2] for rows('desc.tsv');
my (%values, %units);
for my $r (rows('results.tsv')) {
  my ($t, $m, $u, $v) = @$r;
  push @{$values{$t}{$m}}, $v;
  $units{$m} = $u;
}
my %notes;
push @{$notes{$_->[0]}}, $_->[1] for rows('notes.tsv');
my %med;
for my $t (keys %values) {
  $med{$t}{$_} = median(@{$values{$t}{$_}}) for keys %{$values{$t}};
}

my $big = $meta{big_human} // '?';
my $small = ($meta{small_count} // '?') . " × " . ($meta{small_human} // '?');
my @metrics = (
  ['big_write',         "big file write: $big in 1 MiB writes, fsync, close"],
  ['big_write_store',   "big file write, until in the store"],
  ['big_read_cold',     "big file read, cold"],
  ['big_read_warm',     "big file read, warm (second read)"],
  ['small_write',       "small files write: $small (open, write, close)"],
  ['small_write_store', "small files write, until in the store"],
  ['small_read_cold',   "small files read, cold"],
  ['small_read_warm',   "small files read, warm"],
  ['stat_create',       "create " . ($meta{stat_count} // '?') . " empty files (" . ($meta{stat_workers} // '?') . " processes; set-up)"],
  ['stat_cold',         "stat pass (readdir + lstat each), cold"],
  ['stat_warm',         "stat pass, warm"],
  ['big_write_store_srv',   "s3rver CPU during the big write, until in the store"],
  ['big_read_cold_srv',     "s3rver CPU during the cold big read"],
  ['small_write_store_srv', "s3rver CPU during the small-file write, until in the store"],
  ['small_read_cold_srv',   "s3rver CPU during the cold small-file read"],
  ['rss_write_max',     "max RSS of the mount, writing " . ($meta{rss_human} // '?')],
  ['rss_read_max',      "max RSS of the mount, reading it back"],
  ['rss_write',         "(" . ($meta{rss_human} // '?') . " write, until in the store)"],
  ['rss_read',          "(" . ($meta{rss_human} // '?') . " read, kernel cache dropped)"],
);

# Ratios the comparison is about: shoal target, metric / peer, metric.
my @shoal = grep { /^shoal-/ } @targets;
my @s3shoal = grep { $_ ne 'shoal-file' } @shoal;
my @ratios;
sub ratio {
  my ($label, $st, $sm, $pt, $pm, $better) = @_;
  # Only pairs whose both sides were part of the run.
  my $ran = sub { exists $status{$_[0]} && $status{$_[0]} ne 'skipped' };
  return unless $ran->($st) && ($pt eq '=' || $ran->($pt));
  my $sv = $med{$st}{$sm};
  my $pv = $pt eq '=' ? $pm : $med{$pt}{$pm};
  push @ratios, {
    label => $label, shoal => $st, shoal_metric => $sm, shoal_value => $sv,
    peer => ($pt eq '=' ? 'reference' : $pt), peer_metric => ($pt eq '=' ? 'reference' : $pm),
    peer_value => $pv,
    ratio => (defined $sv && defined $pv && $pv != 0) ? $sv / $pv : undef,
    better => $better,
  };
}
ratio('big read, warm (cached) vs FUSE passthrough', $_, 'big_read_warm', 'passthrough', 'big_read_warm', 'higher') for @shoal;
ratio('big read, warm (cached) vs FUSE passthrough -o cache=always', $_, 'big_read_warm', 'passthrough-cached', 'big_read_warm', 'higher') for @shoal;
ratio('big write vs FUSE passthrough', $_, 'big_write', 'passthrough', 'big_write', 'higher') for grep { $_ eq 'shoal-file' } @shoal;
ratio('big read, cold from S3 vs s3rver 8-parallel GET (objbench, 4 MiB)', $_, 'big_read_cold', 's3rver', 'objbench_get_large', 'higher') for @s3shoal;
ratio('big read, cold vs rclone', $_, 'big_read_cold', 'rclone', 'big_read_cold', 'higher') for @s3shoal;
ratio('small files written, until in the bucket, vs s3fs', $_, 'small_write_store', 's3fs', 'small_write_store', 'higher') for @s3shoal;
ratio('small files written, until in the bucket, vs rclone', $_, 'small_write_store', 'rclone', 'small_write_store', 'higher') for @s3shoal;
ratio('small files read, cold vs rclone', $_, 'small_read_cold', 'rclone', 'small_read_cold', 'higher') for @s3shoal;
ratio('stat pass, cold vs FUSE passthrough', $_, 'stat_cold', 'passthrough', 'stat_cold', 'higher') for @shoal;
ratio('stat pass, warm vs FUSE passthrough', $_, 'stat_warm', 'passthrough', 'stat_warm', 'higher') for @shoal;
if (defined $meta{rss_budget_mib}) {
  for my $t (@shoal) {
    next unless defined $med{$t}{rss_write_max} || defined $med{$t}{rss_read_max};
    my @m = grep { defined } ($med{$t}{rss_write_max}, $med{$t}{rss_read_max});
    my $max = (sort { $b <=> $a } @m)[0];
    $med{$t}{rss_max} = $max;
    $units{rss_max} = 'MiB';
    ratio("max RSS vs buffer size + 100 MiB ($meta{rss_budget_mib} MiB)", $t, 'rss_max', '=', $meta{rss_budget_mib}, 'lower');
  }
}

# --- markdown ---
my @ok = grep { exists $values{$_} && $_ ne 's3rver' } @targets;
my $out = '';
$out .= "Run $meta{date} on $meta{machine}; shoal $meta{shoal_version}; "
      . "median of $meta{repeat} runs; s3rver $meta{s3rver_version} on 127.0.0.1"
      . " (restarted after crashes: $meta{s3rver_restarts} times); load average "
      . (split / /, $meta{load_at_start} // '?')[0] . " at the start, "
      . (split / /, $meta{load_at_end} // '?')[0] . " at the end.\n\n";
$out .= "| workload | unit | " . join(' | ', @ok) . " |\n";
$out .= "|---|---|" . join('', map { '---:|' } @ok) . "\n";
for my $m (@metrics) {
  my ($key, $label) = @$m;
  next unless grep { defined $med{$_}{$key} } @ok;
  $out .= "| $label | $units{$key} | " . join(' | ', map { fmt($med{$_}{$key}) } @ok) . " |\n";
}
if (exists $values{s3rver}) {
  $out .= "\nRaw s3rver, `shoal objbench`, 8 requests in flight, GET of 4 MiB objects: "
        . fmt($med{s3rver}{objbench_get_large}) . " MiB/s; PUT of 4 KiB objects: "
        . fmt($med{s3rver}{objbench_put_small}) . " objects/s.\n";
}
if (@ratios) {
  $out .= "\n| ratio (shoal / peer) | shoal target | shoal | peer | ratio |\n";
  $out .= "|---|---|---:|---:|---:|\n";
  for my $r (@ratios) {
    my $u = $units{$r->{shoal_metric}} // '';
    $out .= "| $r->{label} | $r->{shoal} | " . fmt($r->{shoal_value}) . " $u | "
          . fmt($r->{peer_value}) . " $u | "
          . (defined $r->{ratio} ? sprintf('%.2f×', $r->{ratio}) : '–')
          . ($r->{better} eq 'lower' ? ' (lower is better)' : '') . " |\n";
  }
  $out .= "\nRatios above 1 mean shoal is faster, except where lower is better.\n";
}
$out .= "\nWhat each target is, and what cold and \"in the store\" mean for it:\n\n";
for my $t (@targets) {
  next if $t eq 's3rver';
  my $d = $desc{$t} // {};
  my @parts = grep { defined } ($d->{setup},
      defined $d->{cold} ? "cold: $d->{cold}" : undef,
      defined $d->{'in store'} ? "in the store: $d->{'in store'}" : undef);
  $out .= "- **$t** ($status{$t}): " . join('; ', @parts) . ".";
  $out .= " Note: " . join(' ', @{$notes{$t}}) if $notes{$t};
  $out .= "\n";
}
$out .= "- Warm: the same read again at once, in the same mount. Medians of rates; "
      . "\"until in the store\" counts from the first open until the store holds all the bytes "
      . "(polled every 0.1 s).\n";
$out .= "- Note: " . join(' ', @{$notes{'*'}}) . "\n" if $notes{'*'};

open(my $mdf, '>', $md_path) or die "cannot write $md_path: $!\n";
print $mdf $out;
close($mdf);
print $out;

# --- JSON ---
my %meta_json = map { $_ => ($meta{$_} =~ /^-?\d+(\.\d+)?$/ ? $meta{$_} + 0 : $meta{$_}) } keys %meta;
my %json = (meta => \%meta_json, targets => {}, ratios => \@ratios, notes => $notes{'*'} // []);
for my $t (@targets) {
  my %metrics;
  for my $m (keys %{$values{$t} // {}}) {
    $metrics{$m} = {
      unit => $units{$m},
      values => [map { $_ eq 'NA' ? undef : $_ + 0 } @{$values{$t}{$m}}],
      median => $med{$t}{$m},
    };
  }
  $json{targets}{$t} = {
    status => $status{$t}, description => $desc{$t} // {}, metrics => \%metrics,
    notes => $notes{$t} // [],
  };
}
open(my $jf, '>', $json_path) or die "cannot write $json_path: $!\n";
print $jf JSON::PP->new->pretty->canonical->encode(\%json);
close($jf);
PERL
}
