package format

import (
	"testing"
	"time"
)

func TestHumanSize(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{999, "999B"},
		{1000, "1kB"},
		{4260, "4.26kB"},
		{1234567, "1.23MB"},
		{7330000, "7.33MB"},
		{77800000, "77.8MB"},
		{1e9, "1GB"},
	} {
		if got := HumanSize(tt.in); got != tt.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSince(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		ago  time.Duration
		want string
	}{
		{500 * time.Millisecond, "Less than a second ago"},
		{time.Second, "1 second ago"},
		{45 * time.Second, "45 seconds ago"},
		{90 * time.Second, "About a minute ago"},
		{10 * time.Minute, "10 minutes ago"},
		{time.Hour, "About an hour ago"},
		{2 * time.Hour, "2 hours ago"},
		{3 * 24 * time.Hour, "3 days ago"},
		{15 * 24 * time.Hour, "2 weeks ago"},
		{100 * 24 * time.Hour, "3 months ago"},
		{3 * 365 * 24 * time.Hour, "3 years ago"},
	} {
		if got := since(now, now.Add(-tt.ago)); got != tt.want {
			t.Errorf("since(%v ago) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	for _, old := range []time.Time{{}, time.Unix(0, 0), epoch} {
		if got := since(now, old); got != "" {
			t.Errorf("since(%v) = %q, want \"\"", old, got)
		}
	}
	if got := Since(time.Now().Add(-2 * time.Hour)); got != "2 hours ago" {
		t.Errorf("Since(2h ago) = %q", got)
	}
}

func TestTruncateID(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:c1aabb73d2339c5ebaa3681de2e9d9c18d57485045a4e311d9f8004bec208d67": "c1aabb73d233",
		"c1aabb73d2339c5ebaa3681de2e9d9c18d57485045a4e311d9f8004bec208d67":        "c1aabb73d233",
		"sha512:abc": "abc",
		"abc":        "abc",
		"":           "",
	} {
		if got := TruncateID(in); got != want {
			t.Errorf("TruncateID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEllipsis(t *testing.T) {
	const createdBy = "/bin/sh -c #(nop) ADD file:5d6b639e8b6bcc01149f5b8cc64d6e3cdb9a8b8c in / "
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{createdBy, 45, "/bin/sh -c #(nop) ADD file:5d6b639e8b6bcc011…"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"abc", 1, "a"},
		{"abc", 0, ""},
		{"", 5, ""},
		{"你好世界", 8, "你好世界"},
		{"你好世界", 7, "你好世…"},
		{"你好世界", 6, "你好…"},
		{"你好世界", 5, "你好…"},
		{"a你好", 4, "a你…"},
		{"你好", 1, "你"},
		{"你好", 2, "你好"}, // docker gives up when no character fits before "…"
		{"héllo wörld", 6, "héllo…"},
	} {
		if got := Ellipsis(tt.in, tt.max); got != tt.want {
			t.Errorf("Ellipsis(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestCharWidth(t *testing.T) {
	for r, want := range map[rune]int{
		'a': 1, 'é': 1, '…': 1, 'ー': 2, '你': 2, '한': 2, 'Ａ': 2, '😀': 2, 0x20000: 2, 0x1F321: 1,
	} {
		if got := charWidth(r); got != want {
			t.Errorf("charWidth(%q) = %d, want %d", r, got, want)
		}
	}
	for i := 1; i < len(wide); i++ {
		if wide[i-1][1] >= wide[i][0] || wide[i][0] > wide[i][1] {
			t.Errorf("wide ranges %x and %x are out of order", wide[i-1], wide[i])
		}
	}
}
