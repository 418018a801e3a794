package format

import (
	"strings"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
)

// HumanSize prints a byte count as docker images and history do: SI
// units, three significant digits ("1.23MB", "4.26kB", "0B").
func HumanSize(bytes int64) string {
	return units.HumanSizeWithPrecision(float64(bytes), 3)
}

// epoch is the time up to which docker history leaves CREATED empty:
// layers built with a zeroed timestamp would otherwise be "55 years ago".
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Since prints how long ago t was, as docker's CREATED column does:
// "Less than a second ago", "About a minute ago", "2 hours ago". The zero
// time and any time up to 2000-01-01 give "", as in docker history.
func Since(t time.Time) string {
	return since(time.Now(), t)
}

func since(now, t time.Time) string {
	if !t.After(epoch) {
		return ""
	}
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// TruncateID shortens an ID as docker does: the algorithm prefix
// ("sha256:") dropped, then the first 12 characters.
func TruncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// Ellipsis fits s into maxWidth terminal columns, as docker history's CREATED
// BY does with 45: a longer s is cut and ends in "…". East Asian wide and
// full-width characters take two columns. maxWidth 1 keeps only the first
// character; maxWidth 0 or less gives "".
//
// Like docker, Ellipsis gives s back whole when not even one character
// fits before the "…".
func Ellipsis(s string, maxWidth int) string {
	if maxWidth <= 0 || s == "" {
		return ""
	}
	if maxWidth == 1 {
		r, _ := utf8.DecodeRuneInString(s)
		return string(r)
	}
	width, cut := 0, 0 // cut: byte length of the longest prefix of width <= maxWidth-1
	for i, r := range s {
		width += charWidth(r)
		if width <= maxWidth-1 {
			cut = i + utf8.RuneLen(r)
		}
	}
	if width <= maxWidth || cut == 0 {
		return s
	}
	return s[:cut] + "…"
}

// charWidth is 2 for East Asian wide and full-width characters and 1 for
// every other, which is how docker counts (golang.org/x/text/width).
func charWidth(r rune) int {
	if r < 0x1100 {
		return 1
	}
	lo, hi := 0, len(wide)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < wide[m][0]:
			hi = m
		case r > wide[m][1]:
			lo = m + 1
		default:
			return 2
		}
	}
	return 1
}

// wide lists, sorted, the ranges of Unicode's EastAsianWidth.txt marked
// W or F, with neighbouring ranges merged.
var wide = [][2]rune{
	{0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC},
	{0x23F0, 0x23F0}, {0x23F3, 0x23F3}, {0x25FD, 0x25FE}, {0x2614, 0x2615},
	{0x2648, 0x2653}, {0x267F, 0x267F}, {0x2693, 0x2693}, {0x26A1, 0x26A1},
	{0x26AA, 0x26AB}, {0x26BD, 0x26BE}, {0x26C4, 0x26C5}, {0x26CE, 0x26CE},
	{0x26D4, 0x26D4}, {0x26EA, 0x26EA}, {0x26F2, 0x26F3}, {0x26F5, 0x26F5},
	{0x26FA, 0x26FA}, {0x26FD, 0x26FD}, {0x2705, 0x2705}, {0x270A, 0x270B},
	{0x2728, 0x2728}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755},
	{0x2757, 0x2757}, {0x2795, 0x2797}, {0x27B0, 0x27B0}, {0x27BF, 0x27BF},
	{0x2B1B, 0x2B1C}, {0x2B50, 0x2B50}, {0x2B55, 0x2B55}, {0x2E80, 0x2E99},
	{0x2E9B, 0x2EF3}, {0x2F00, 0x2FD5}, {0x2FF0, 0x303E}, {0x3041, 0x3096},
	{0x3099, 0x30FF}, {0x3105, 0x312F}, {0x3131, 0x318E}, {0x3190, 0x31E3},
	{0x31EF, 0x321E}, {0x3220, 0x3247}, {0x3250, 0xA48C}, {0xA490, 0xA4C6},
	{0xA960, 0xA97C}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE10, 0xFE19},
	{0xFE30, 0xFE52}, {0xFE54, 0xFE66}, {0xFE68, 0xFE6B}, {0xFF01, 0xFF60},
	{0xFFE0, 0xFFE6}, {0x16FE0, 0x16FE4}, {0x16FF0, 0x16FF1}, {0x17000, 0x187F7},
	{0x18800, 0x18CD5}, {0x18D00, 0x18D08}, {0x1AFF0, 0x1AFFE}, {0x1B000, 0x1B122},
	{0x1B132, 0x1B132}, {0x1B150, 0x1B152}, {0x1B155, 0x1B155}, {0x1B164, 0x1B167},
	{0x1B170, 0x1B2FB}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E},
	{0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B}, {0x1F240, 0x1F248},
	{0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F320}, {0x1F32D, 0x1F335},
	{0x1F337, 0x1F37C}, {0x1F37E, 0x1F393}, {0x1F3A0, 0x1F3CA}, {0x1F3CF, 0x1F3D3},
	{0x1F3E0, 0x1F3F0}, {0x1F3F4, 0x1F3F4}, {0x1F3F8, 0x1F43E}, {0x1F440, 0x1F440},
	{0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D}, {0x1F54B, 0x1F54E}, {0x1F550, 0x1F567},
	{0x1F57A, 0x1F57A}, {0x1F595, 0x1F596}, {0x1F5A4, 0x1F5A4}, {0x1F5FB, 0x1F64F},
	{0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC}, {0x1F6D0, 0x1F6D2}, {0x1F6D5, 0x1F6D7},
	{0x1F6DC, 0x1F6DF}, {0x1F6EB, 0x1F6EC}, {0x1F6F4, 0x1F6FC}, {0x1F7E0, 0x1F7EB},
	{0x1F7F0, 0x1F7F0}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945}, {0x1F947, 0x1F9FF},
	{0x1FA70, 0x1FA7C}, {0x1FA80, 0x1FA88}, {0x1FA90, 0x1FABD}, {0x1FABF, 0x1FAC5},
	{0x1FACE, 0x1FADB}, {0x1FAE0, 0x1FAE8}, {0x1FAF0, 0x1FAF8}, {0x20000, 0x2FFFD},
	{0x30000, 0x3FFFD},
}
