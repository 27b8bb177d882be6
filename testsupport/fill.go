package testsupport

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unsafe"
)

// Fill sets every field of the struct v points to, recursively and
// unexported ones too, to a value that is not the zero value of its type:
// strings "s<N>", numbers N, booleans true, slices of two filled
// elements, maps of one entry, pointers to a filled value. N counts up
// from 1, so no two fields are equal. Fields named in skip (dotted paths
// from v, such as "Spec.Seccomp") are left as they are. A codec test
// fills a value, round-trips it and compares: a field added to the type
// but not to the codec fails it.
func Fill(v any, skip ...string) {
	f := filler{skip: map[string]bool{}}
	for _, s := range skip {
		f.skip[s] = true
	}
	f.fill(reflect.ValueOf(v).Elem(), "")
}

type filler struct {
	n    int
	skip map[string]bool
}

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, path string) {
	if f.skip[path] {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fv := v.Field(i)
			if !fv.CanSet() {
				fv = reflect.NewAt(fv.Type(), unsafe.Pointer(fv.UnsafeAddr())).Elem()
			}
			f.fill(fv, join(path, v.Type().Field(i).Name))
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			f.fill(v.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		f.fill(k, path+"[key]")
		f.fill(e, path+"[value]")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("s" + strconv.Itoa(f.next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.next()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(f.next()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.next()))
	default:
		panic(fmt.Sprintf("testsupport.Fill: cannot fill %s (%s): skip it", path, v.Type()))
	}
}

// ZeroFields returns the dotted paths of the fields of the struct v
// points to, recursively, that hold their type's zero value (a nil or
// empty slice or map, a nil pointer): what Fill, and fix-ups after it,
// left unset. Fields named in skip are not looked at.
func ZeroFields(v any, skip ...string) []string {
	sk := map[string]bool{}
	for _, s := range skip {
		sk[s] = true
	}
	var zero []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if sk[path] {
			return
		}
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), join(path, v.Type().Field(i).Name))
			}
			return
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
				return
			}
		case reflect.Slice, reflect.Map:
			if v.Len() > 0 {
				if v.Kind() == reflect.Slice {
					for i := 0; i < v.Len(); i++ {
						walk(v.Index(i), path+"["+strconv.Itoa(i)+"]")
					}
				}
				return
			}
		default:
			if !v.IsZero() {
				return
			}
		}
		zero = append(zero, path)
	}
	walk(reflect.ValueOf(v).Elem(), "")
	return zero
}

func join(path, name string) string {
	return strings.TrimPrefix(path+"."+name, ".")
}
