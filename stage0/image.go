package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/store"
)

// Fields of image list, rkt's names and headers.
var imageListHeaders = map[string]string{
	"id":         "ID",
	"name":       "NAME",
	"importtime": "IMPORT TIME",
	"lastused":   "LAST USED",
	"size":       "SIZE",
	"latest":     "LATEST",
}

// imageSortFields are the fields rkt's image list sorts by.
var imageSortFields = []string{"name", "importtime", "lastused", "size"}

const (
	// defaultImageFields are rkt 1.30's columns, in its order.
	defaultImageFields = "id,name,size,importtime,lastused"
	// knownImageFields are what --fields takes: rkt's, and saturn's
	// LATEST column that older rkt printed.
	knownImageFields = "id,name,size,importtime,lastused,latest"
	// fullTimeLayout is how rkt prints times with --full.
	fullTimeLayout = "2006-01-02 15:04:05.999 -0700 MST"
)

// imageListEntry is one image in image list's JSON output, shaped like
// rkt's api/v1 ImageListEntry (times in nanoseconds since the epoch).
type imageListEntry struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ImportTime   int64  `json:"import_time"`
	LastUsedTime int64  `json:"last_used_time"`
	Size         int64  `json:"size"`
}

// imageCommands returns fetch and the image family.
func imageCommands(g *globals) []*command {
	return append(fetchCommands(g),
		imageListCommand(),
		imageRmCommand(),
		imageGCCommand(),
		imageCatManifestCommand(),
		imageExportCommand(),
		imageExtractCommand("extract", "extract an image's ACI content to a directory"),
		imageExtractCommand("render", "render an image with its dependencies to a directory"),
		imageBuildCommand(),
	)
}

type imageListFlags struct {
	fields, sort, order, format string
	full, noLegend              bool
}

func imageListCommand() *command {
	var f imageListFlags
	return &command{
		name:  "image list",
		usage: "[--fields=…] [--full] [--no-legend] [--format=json|json-pretty] [--sort=…] [--order=asc|desc]",
		short: "list images in the local store",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&f.fields, "fields", defaultImageFields, "comma-separated list of fields to display: "+strings.ReplaceAll(knownImageFields, ",", ", "))
			fs.StringVar(&f.sort, "sort", "importtime", "comma-separated list of fields to sort by: "+strings.Join(imageSortFields, ", "))
			fs.StringVar(&f.order, "order", "asc", "sort order if --sort is given: asc or desc")
			fs.StringVar(&f.format, "format", "", "output format: json or json-pretty (default a table)")
			fs.BoolVar(&f.full, "full", false, "use long output format")
			fs.BoolVar(&f.noLegend, "no-legend", false, "suppress a legend with the list")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 0 {
				return usagef("image list takes no arguments")
			}
			return runImageList(g, &f)
		},
	}
}

func runImageList(g *globals, f *imageListFlags) error {
	fields, err := parseImageFields(f.fields, "--fields", strings.Split(knownImageFields, ","))
	if err != nil {
		return err
	}
	sortBy, err := parseImageFields(f.sort, "--sort", imageSortFields)
	if err != nil {
		return err
	}
	order := strings.ToLower(f.order)
	if order != "asc" && order != "desc" {
		return usagef("invalid --order %q (want asc or desc)", clip.String(f.order))
	}
	if f.format != "" && f.format != "json" && f.format != "json-pretty" {
		return usagef("invalid --format %q (want json or json-pretty)", clip.String(f.format))
	}
	st, err := openStore(g)
	if err != nil {
		return err
	}
	defer st.Close()
	infos, err := st.List()
	if err != nil {
		return err
	}
	// As rkt's, SIZE is what an image takes in the store: its blob and
	// the tree rendered from it.
	trees, err := st.TreeSizes()
	if errors.Is(err, fs.ErrPermission) {
		// A member of the saturn group (dist/setup-data-dir.sh): the
		// rendered trees are root's alone.
		fmt.Fprintln(g.Stderr, "saturn image list: rendered trees are root's: SIZE counts the images' blobs only")
		err = nil
	}
	if err != nil {
		return err
	}
	for i := range infos {
		infos[i].Size += trees[infos[i].ID]
	}
	sortImages(infos, sortBy, order == "desc")
	if f.format != "" {
		return writeImagesJSON(g.Stdout, infos, f.format == "json-pretty")
	}
	return writeImagesTable(g.Stdout, infos, fields, f.full, f.noLegend, time.Now())
}

// parseImageFields parses a comma-separated list of the fields valid.
func parseImageFields(s, flag string, valid []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if !slices.Contains(valid, f) {
			return nil, usagef("%s: unknown field %q (valid: %s)", flag, clip.String(f), strings.Join(valid, ", "))
		}
		if seen[f] {
			return nil, usagef("%s: duplicated field %q", flag, f)
		}
		seen[f] = true
		out = append(out, f)
	}
	return out, nil
}

func sortImages(infos []store.ImageInfo, by []string, desc bool) {
	less := func(a, b store.ImageInfo) int {
		for _, f := range by {
			if c := compareImageField(a, b, f); c != 0 {
				return c
			}
		}
		return strings.Compare(a.ID, b.ID)
	}
	sort.SliceStable(infos, func(i, j int) bool {
		c := less(infos[i], infos[j])
		if desc {
			return c > 0
		}
		return c < 0
	})
}

func compareImageField(a, b store.ImageInfo, f string) int {
	switch f {
	case "id":
		return strings.Compare(a.ID, b.ID)
	case "name":
		return strings.Compare(imageDisplayName(a), imageDisplayName(b))
	case "importtime":
		return a.ImportTime.Compare(b.ImportTime)
	case "lastused":
		return a.LastUsed.Compare(b.LastUsed)
	case "size":
		return compareInt(a.Size, b.Size)
	case "latest":
		return compareBool(a.Latest, b.Latest)
	}
	return 0
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// imageDisplayName is "name:version" when the image has a version label.
func imageDisplayName(in store.ImageInfo) string {
	if v, ok := in.Labels["version"]; ok {
		return in.Name + ":" + v
	}
	return in.Name
}

func writeImagesJSON(w io.Writer, infos []store.ImageInfo, pretty bool) error {
	entries := make([]imageListEntry, 0, len(infos))
	for _, in := range infos {
		entries = append(entries, imageListEntry{
			ID: in.ID, Name: imageDisplayName(in), Size: in.Size,
			ImportTime: in.ImportTime.UnixNano(), LastUsedTime: in.LastUsed.UnixNano(),
		})
	}
	var data []byte
	var err error
	if pretty {
		data, err = json.MarshalIndent(entries, "", "\t")
	} else {
		data, err = json.Marshal(entries)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}

func writeImagesTable(w io.Writer, infos []store.ImageInfo, fields []string, full, noLegend bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, '\t', 0)
	if !noLegend {
		hdr := make([]string, len(fields))
		for i, f := range fields {
			hdr[i] = imageListHeaders[f]
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	}
	for _, in := range infos {
		cols := make([]string, len(fields))
		for i, f := range fields {
			cols[i] = imageField(in, f, full, now)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	return tw.Flush()
}

func imageField(in store.ImageInfo, f string, full bool, now time.Time) string {
	switch f {
	case "id":
		if full {
			return in.ID
		}
		return listID(in.ID)
	case "name":
		if full {
			return imageDisplayName(in)
		}
		// A manifest's name and version are the publisher's input, of
		// any length; the table shows them clipped.
		return clip.String(imageDisplayName(in))
	case "importtime":
		return formatTime(in.ImportTime, full, now)
	case "lastused":
		return formatTime(in.LastUsed, full, now)
	case "size":
		if full {
			return fmt.Sprint(in.Size)
		}
		return humanBytes(in.Size)
	case "latest":
		return fmt.Sprint(in.Latest)
	}
	return ""
}

// listID is the id form of image list: the algorithm and 12 hex digits.
func listID(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 && i+13 < len(id) {
		return id[:i+13]
	}
	return id
}

func formatTime(t time.Time, full bool, now time.Time) string {
	if full {
		return t.Format(fullTimeLayout)
	}
	return relativeTime(t, now)
}

// relativeTime says how long ago t was, in the words rkt's lists use.
func relativeTime(t, now time.Time) string {
	d := now.Sub(t)
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	const day = 24 * time.Hour
	steps := []struct {
		below time.Duration
		unit  time.Duration
		name  string
	}{
		{time.Minute, time.Second, "second"},
		{time.Hour, time.Minute, "minute"},
		{day, time.Hour, "hour"},
		{7 * day, day, "day"},
		{30 * day, 7 * day, "week"},
		{365 * day, 30 * day, "month"},
		{math.MaxInt64, 365 * day, "year"},
	}
	if d < time.Second {
		return "now"
	}
	for _, s := range steps {
		if d < s.below {
			n := int64(d / s.unit)
			if n == 1 {
				return fmt.Sprintf("1 %s %s", s.name, suffix)
			}
			return fmt.Sprintf("%d %ss %s", n, s.name, suffix)
		}
	}
	return "long ago"
}

// humanBytes formats a size as rkt's image list does with go-humanize's
// IBytes: IEC units, one decimal below ten, a space before the unit
// ("9 B", "1.5 KiB", "143 MiB").
func humanBytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	e := min(int(math.Floor(math.Log(float64(n))/math.Log(1024))), len(units)-1)
	v := math.Floor(float64(n)/math.Pow(1024, float64(e))*10+0.5) / 10
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[e])
	}
	return fmt.Sprintf("%.0f %s", v, units[e])
}

func imageRmCommand() *command {
	return &command{
		name:  "image rm",
		usage: "IMAGE...",
		short: "remove images from the local store",
		run: func(g *globals, args []string) error {
			if len(args) == 0 {
				return usagef("image rm needs at least one image")
			}
			st, err := openStore(g)
			if err != nil {
				return err
			}
			defer st.Close()
			// Pods in the making are laid out first, so that every pod
			// using an image is seen in its pod directory.
			hold, err := st.HoldImagesExclusive(func() {
				fmt.Fprintln(g.Stderr, "image rm: waiting for pods being prepared to render their images")
			})
			if err != nil {
				return err
			}
			defer hold.Release()
			removed, failed := 0, 0
			for _, ref := range args {
				if err := removeImage(g, st, ref); err != nil {
					fmt.Fprintf(g.Stderr, "saturn image rm: %v\n", err)
					failed++
					continue
				}
				removed++
			}
			if removed > 0 {
				fmt.Fprintf(g.Stderr, "saturn: %d image(s) successfully removed\n", removed)
			}
			if failed > 0 {
				return &exitCodeError{code: exitError, err: fmt.Errorf("%d image(s) could not be removed", failed)}
			}
			return nil
		},
	}
}

func removeImage(g *globals, st *store.Store, ref string) error {
	id, err := resolveImage(g, st, ref)
	if err != nil {
		return err
	}
	info, err := st.Info(id)
	if err != nil {
		return err
	}
	g.debugf("image rm: %s is %s (%s)", clip.String(ref), id, clip.String(info.Name))
	if err := refuseInUse(g, st, id); err != nil {
		return err
	}
	if err := st.Remove(id); err != nil {
		return err
	}
	// The trees rendered from it go with it; those a pod still references
	// (an exited one, not yet collected) stay until gc.
	trees, err := st.RemoveTreesOf(id)
	for _, t := range trees {
		g.debugf("image rm: removed treestore %s", t)
	}
	if err != nil {
		fmt.Fprintf(g.Stderr, "saturn image rm: %s: removing its rendered trees: %v (image gc removes them later)\n", id, err)
	}
	// rkt prints this line on stdout, for scripts; the count on stderr.
	fmt.Fprintf(g.Stdout, "successfully removed aci for image: %q\n", id)
	return nil
}

// refuseInUse refuses to remove the image id while a pod that is being
// prepared, prepared or running was laid out from it (as the image of an
// app, a dependency or the stage1): its overlays, or the pod's next start,
// need the image's tree.
func refuseInUse(g *globals, st *store.Store, id string) error {
	pods, err := pod.List(g.Dir)
	if err != nil {
		return err
	}
	for _, p := range pods {
		switch p.State() {
		case pod.StatePreparing, pod.StatePrepared, pod.StateRunning:
		default:
			continue
		}
		for _, treeID := range p.TreeIDs() {
			ids, err := st.TreeImages(treeID)
			if err == nil && slices.Contains(ids, id) {
				return fmt.Errorf("image %s is in use by pod %s (%s); stop and remove the pod first", shortID(id), p.UUID, p.State())
			}
		}
	}
	return nil
}

func imageGCCommand() *command {
	var grace time.Duration
	return &command{
		name:  "image gc",
		usage: "[--grace-period=DURATION]",
		short: "remove unused images, unreferenced trees and leftovers from the local store",
		flags: func(fs *pflag.FlagSet) {
			fs.DurationVar(&grace, "grace-period", 24*time.Hour, "duration to wait since an image was last used before removing it")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 0 {
				return usagef("image gc takes no arguments")
			}
			if grace < 0 {
				return usagef("--grace-period must not be negative")
			}
			st, err := openStore(g)
			if err != nil {
				return err
			}
			defer st.Close()
			g.debugf("image gc: removing images unused for %s and their leftovers from %s", grace, st.Dir())
			res, err := st.GC(grace, func() {
				fmt.Fprintln(g.Stderr, "image gc: waiting for pods being prepared to render their images")
			})
			if res != nil {
				reportGC(g, res)
			}
			return err
		},
	}
}

func reportGC(g *globals, res *store.GCResult) {
	for _, p := range res.Leftovers {
		fmt.Fprintf(g.Stderr, "saturn: removed leftover %q\n", p)
	}
	for _, t := range res.Trees {
		fmt.Fprintf(g.Stderr, "saturn: removed treestore %q\n", t)
	}
	for _, in := range res.Images {
		fmt.Fprintf(g.Stderr, "saturn: successfully removed aci for image: %q (%q)\n", in.ID, in.Name)
	}
	fmt.Fprintf(g.Stderr, "saturn: %d image(s) successfully removed\n", len(res.Images))
}

// errExists is returned when an output path exists and --overwrite was
// not given.
var errExists = errors.New("already exists (use --overwrite to replace it)")
