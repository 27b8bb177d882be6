package pod

import (
	"fmt"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/stage1abi"
)

// addAnnotationFlag adds rkt's --annotation: NAME=VALUE on the preceding
// app's runtime annotations, or before any image on the pod manifest's.
func (as *Apps) addAnnotationFlag(fs *pflag.FlagSet) {
	fs.Var(&podFlag{as, annotationSetter(&as.Annotations), func(a *App, s string) error {
		return annotationSetter(&a.Annotations)(s)
	}}, "annotation", "set an annotation NAME=VALUE of the preceding app (before any image: of the pod)")
}

func annotationSetter(anns *types.Annotations) func(s string) error {
	return func(s string) error {
		k, v, err := splitKV("annotation", s)
		if err != nil {
			return err
		}
		name, err := types.NewACIdentifier(k)
		if err != nil {
			return fmt.Errorf("invalid --annotation name %q: %v", k, err)
		}
		for _, r := range stage1abi.ReservedAnnotationPrefixes {
			if strings.HasPrefix(k, r) {
				return fmt.Errorf("--annotation %q: names under %s are saturn's own; use the flag that sets it", k, r)
			}
		}
		anns.Set(*name, v)
		return nil
	}
}
