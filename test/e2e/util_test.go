package e2e

// diffSorted returns what is in want but not got, and in got but not want;
// both must be sorted.
func diffSorted(want, got []string) (missing, extra []string) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			missing = append(missing, want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}

// firstN keeps a failure message short.
func firstN(s []string) []string { return s[:min(len(s), 10)] }
