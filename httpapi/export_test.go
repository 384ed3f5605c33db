package httpapi

import "net/http"

// RoutePatterns returns the pattern of every route that NewHandler(d)
// serves, in the order routes registers them.
func RoutePatterns(d Deps) []string {
	var list patternList
	(&handler{Deps: d}).routes(&list)
	return list
}

// patternList records the patterns registered on it.
type patternList []string

func (p *patternList) Handle(pattern string, _ http.Handler) { *p = append(*p, pattern) }
